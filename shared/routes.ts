/**
 * The route table: the one list of endpoints that the CDK stack (lib/) and the local runtime
 * (bin/local/) both read, so what runs locally is what deploys.
 *
 * Each entry names its Lambda (functions/<name>.ts), who may call it, the status a success answers
 * with, and what the function touches. `uses` drives both the environment variables and the IAM
 * grants of the deployed function, so a function can reach only what it declares here; the
 * function's composition (shared/wiring) builds nothing beyond it. How a request finds its route is
 * in shared/http/route-match.ts.
 */

import type { JwtUse, TableName } from './config.ts';

export type { JwtUse, TableName };
export type Access = 'public' | 'user' | 'admin';
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type TableAccess = 'read' | 'readWrite';

export interface Resources {
  /** DynamoDB tables and the access level the function needs on each. */
  readonly tables: Partial<Record<TableName, TableAccess>>;
  /** Talks to the Redis lock-and-stock store. */
  readonly redis: boolean;
  /** Which token key it reads: `sign` (the private key: login alone), `verify` (public keys), none. */
  readonly jwt: JwtUse;
}

export interface HttpRoute {
  readonly method: HttpMethod;
  /** API Gateway path syntax: `{id}` is a path parameter. */
  readonly path: string;
  /** File stem under functions/ and the logical name of the deployed function. */
  readonly function: string;
  readonly access: Access;
  readonly successStatus: 200 | 201 | 202 | 204;
  readonly summary: string;
  readonly uses: Resources;
  /** Files the deployed function reads at run time, copied beside its bundle (into `dir`). */
  readonly bundleAssets?: { readonly dir: string; readonly files: readonly string[] };
}

export interface ScheduledFunction {
  readonly function: string;
  readonly everyMinutes: number;
  readonly summary: string;
  readonly uses: Resources;
}

/** Authenticated routes verify tokens with the public keys only. */
const authed = { jwt: 'verify' } as const;
/** Every admin route reads the caller's current role from the users table (shared/http endpoint). */
const adminRole = { users: 'read' } as const;
const nothing = { tables: {}, redis: false, jwt: false } as const;

export const httpRoutes = [
  {
    method: 'POST',
    path: '/api/auth/register',
    function: 'register-user',
    access: 'public',
    successStatus: 201,
    summary: 'Create a user account',
    // redis: sign-ups per client address are counted there (shared/limits).
    uses: { tables: { users: 'readWrite' }, redis: true, jwt: false },
  },
  {
    method: 'POST',
    path: '/api/auth/login',
    function: 'login-user',
    access: 'public',
    successStatus: 200,
    summary: 'Exchange username and password for a bearer token',
    // The one function that holds the private key; redis: failed logins are counted there.
    uses: { tables: { users: 'read' }, redis: true, jwt: 'sign' },
  },
  {
    method: 'GET',
    path: '/api/auth/me',
    function: 'get-current-user',
    access: 'user',
    successStatus: 200,
    summary: 'The caller',
    uses: { tables: { users: 'read' }, redis: false, ...authed },
  },
  {
    method: 'GET',
    path: '/api/health',
    function: 'get-health',
    access: 'public',
    successStatus: 200,
    summary: 'Redis and DynamoDB reachability',
    uses: { tables: { products: 'read' }, redis: true, jwt: false },
  },
  {
    method: 'POST',
    path: '/api/products',
    function: 'create-product',
    access: 'admin',
    successStatus: 201,
    summary: 'Create a product with its live stock',
    uses: { tables: { products: 'readWrite', audit: 'readWrite', ...adminRole }, redis: true, ...authed },
  },
  {
    method: 'GET',
    path: '/api/products',
    function: 'list-products',
    access: 'user',
    successStatus: 200,
    summary: 'Products by id, with live stock',
    uses: { tables: { products: 'read' }, redis: true, ...authed },
  },
  {
    method: 'GET',
    path: '/api/products/{id}',
    function: 'get-product',
    access: 'user',
    successStatus: 200,
    summary: 'One product with live stock',
    uses: { tables: { products: 'read' }, redis: true, ...authed },
  },
  {
    method: 'GET',
    path: '/api/products/{id}/stock',
    function: 'get-product-stock',
    access: 'user',
    successStatus: 200,
    summary: 'Durable and live stock side by side',
    uses: { tables: { products: 'read' }, redis: true, ...authed },
  },
  {
    method: 'POST',
    path: '/api/purchases',
    function: 'create-purchase',
    access: 'user',
    successStatus: 200,
    summary: 'Buy a product; a 200 means the purchase is durable',
    // orders: read, because restoring a lost product during a hot deal rebuilds its reservations.
    uses: {
      tables: { products: 'readWrite', purchases: 'readWrite', orders: 'read' },
      redis: true,
      ...authed,
    },
  },
  {
    method: 'GET',
    path: '/api/purchases/me',
    function: 'list-my-purchases',
    access: 'user',
    successStatus: 200,
    summary: "The caller's purchases, newest first",
    uses: { tables: { purchases: 'read' }, redis: false, ...authed },
  },
  {
    method: 'GET',
    path: '/api/admin/inventory/verify',
    function: 'verify-inventory',
    access: 'admin',
    successStatus: 200,
    summary: 'Full audit: initial stock, sold, durable and live stock per product',
    // audit: read, because a stock adjustment in flight counts as done once its audit row exists.
    uses: {
      tables: { products: 'read', purchases: 'read', audit: 'read', ...adminRole },
      redis: true,
      ...authed,
    },
  },
  {
    method: 'POST',
    path: '/api/products/{id}/hotdeal/start',
    function: 'start-hotdeal',
    access: 'admin',
    successStatus: 200,
    summary: 'Load the durable stock into Redis and open the hot deal',
    uses: {
      tables: { products: 'readWrite', orders: 'read', audit: 'readWrite', ...adminRole },
      redis: true,
      ...authed,
    },
  },
  {
    method: 'POST',
    path: '/api/products/{id}/hotdeal/end',
    function: 'end-hotdeal',
    access: 'admin',
    successStatus: 200,
    summary: 'Close the hot deal, expire its open orders and make Redis agree with DynamoDB',
    uses: {
      tables: { products: 'readWrite', orders: 'readWrite', audit: 'readWrite', ...adminRole },
      redis: true,
      ...authed,
    },
  },
  {
    method: 'POST',
    path: '/api/orders',
    function: 'create-order',
    access: 'user',
    successStatus: 202,
    summary: 'Reserve hot-deal units: a PENDING order that expires unless confirmed',
    uses: { tables: { products: 'read', orders: 'readWrite' }, redis: true, ...authed },
  },
  {
    method: 'GET',
    path: '/api/orders/me',
    function: 'list-my-orders',
    access: 'user',
    successStatus: 200,
    summary: "The caller's orders, newest first",
    uses: { tables: { orders: 'read' }, redis: false, ...authed },
  },
  {
    method: 'GET',
    path: '/api/orders/{id}',
    function: 'get-order',
    access: 'user',
    successStatus: 200,
    summary: "One of the caller's orders",
    uses: { tables: { orders: 'read' }, redis: false, ...authed },
  },
  {
    method: 'POST',
    path: '/api/orders/{id}/confirm',
    function: 'confirm-order',
    access: 'user',
    successStatus: 200,
    summary: 'The payment callback: make a PENDING order a durable purchase',
    uses: {
      tables: { products: 'readWrite', purchases: 'readWrite', orders: 'readWrite' },
      redis: true,
      ...authed,
    },
  },
  {
    method: 'POST',
    path: '/api/orders/{id}/cancel',
    function: 'cancel-order',
    access: 'user',
    successStatus: 200,
    summary: 'Cancel a PENDING order; its units go back on sale',
    uses: { tables: { orders: 'readWrite' }, redis: true, ...authed },
  },
  {
    method: 'GET',
    path: '/api/admin/metrics',
    function: 'get-metrics',
    access: 'admin',
    successStatus: 200,
    summary: "The local runtime's metrics as JSON (in AWS they are in CloudWatch)",
    uses: { tables: { ...adminRole }, redis: false, ...authed },
  },
  {
    method: 'PATCH',
    path: '/api/products/{id}',
    function: 'update-product',
    access: 'admin',
    successStatus: 200,
    summary: "Change a product's name, description or price",
    uses: { tables: { products: 'readWrite', audit: 'readWrite', ...adminRole }, redis: true, ...authed },
  },
  {
    method: 'DELETE',
    path: '/api/products/{id}',
    function: 'delete-product',
    access: 'admin',
    successStatus: 204,
    summary: 'Delete a product (not during a hot deal); its purchases stay in history',
    uses: { tables: { products: 'readWrite', audit: 'readWrite', ...adminRole }, redis: true, ...authed },
  },
  {
    method: 'POST',
    path: '/api/admin/products/{id}/stock-adjustments',
    function: 'adjust-stock',
    access: 'admin',
    successStatus: 200,
    summary: 'Add or remove units of a product, safely while a sale runs',
    // orders: read, because restoring a lost product during a hot deal rebuilds its reservations.
    uses: {
      tables: { products: 'readWrite', audit: 'readWrite', orders: 'read', ...adminRole },
      redis: true,
      ...authed,
    },
  },
  {
    method: 'GET',
    path: '/api/admin/purchases',
    function: 'list-purchases',
    access: 'admin',
    successStatus: 200,
    summary: 'Purchases by product or buyer, a page at a time',
    uses: { tables: { purchases: 'read', ...adminRole }, redis: false, ...authed },
  },
  {
    method: 'GET',
    path: '/api/admin/locks/{product_id}',
    function: 'get-lock',
    access: 'admin',
    successStatus: 200,
    summary: "A product's lock: held, time to live, waiters",
    uses: { tables: { products: 'read', ...adminRole }, redis: true, ...authed },
  },
  {
    method: 'DELETE',
    path: '/api/admin/locks/{product_id}',
    function: 'release-lock',
    access: 'admin',
    successStatus: 204,
    summary: "Force-release a product's lock (a stuck holder)",
    uses: { tables: { products: 'read', audit: 'readWrite', ...adminRole }, redis: true, ...authed },
  },
  {
    method: 'GET',
    path: '/api/admin/audit',
    function: 'list-audit',
    access: 'admin',
    successStatus: 200,
    summary: 'The audit log, newest first, a page at a time',
    uses: { tables: { audit: 'read', ...adminRole }, redis: false, ...authed },
  },
  {
    method: 'PATCH',
    path: '/api/admin/users/{id}',
    function: 'update-user-role',
    access: 'admin',
    successStatus: 200,
    summary: "Change a user's role; a demoted admin is refused from the next request on",
    uses: { tables: { users: 'readWrite', audit: 'readWrite' }, redis: false, ...authed },
  },
  {
    method: 'GET',
    path: '/api/openapi.json',
    function: 'get-openapi',
    access: 'public',
    successStatus: 200,
    summary: 'The OpenAPI 3.1 document of this API',
    uses: nothing,
  },
  {
    method: 'GET',
    path: '/api/docs',
    function: 'get-api-docs',
    access: 'public',
    successStatus: 200,
    summary: 'Swagger UI for the OpenAPI document',
    uses: nothing,
  },
  {
    method: 'GET',
    path: '/api/docs/{asset}',
    function: 'get-api-docs-asset',
    access: 'public',
    successStatus: 200,
    summary: "Swagger UI's script and style sheet",
    uses: nothing,
    // The two files shared/http/api-docs.ts serves, from the swagger-ui-dist package.
    bundleAssets: {
      dir: 'swagger-ui',
      files: [
        'node_modules/swagger-ui-dist/swagger-ui.css',
        'node_modules/swagger-ui-dist/swagger-ui-bundle.js',
      ],
    },
  },
  {
    method: 'GET',
    path: '/admin',
    function: 'get-admin-page',
    access: 'public',
    successStatus: 200,
    summary: 'The admin dashboard page (it signs in through the API)',
    uses: nothing,
  },
] as const satisfies readonly HttpRoute[];

export const scheduledFunctions = [
  {
    function: 'reconcile-inventory',
    everyMinutes: 1,
    summary: 'Restore lost Redis stock, resolve stale holds and hot-deal reservations, repair drift',
    uses: {
      tables: { products: 'read', purchases: 'read', orders: 'readWrite', audit: 'readWrite' },
      redis: true,
      jwt: false,
    },
  },
] as const satisfies readonly ScheduledFunction[];

/**
 * API Gateway's `$default` route: every request no route matches. It answers the contract's 404 or
 * 405 body instead of API Gateway's own `{"message":"Not Found"}`.
 */
export const fallbackRoute = {
  method: 'ANY',
  path: '$default',
  function: 'route-not-found',
  access: 'public',
  successStatus: 200,
  summary: 'Unknown route (404) or wrong method (405)',
  uses: { tables: {}, redis: false, jwt: false },
} as const;

export type EndpointName = (typeof httpRoutes)[number]['function'] | (typeof fallbackRoute)['function'];
export type FunctionName = EndpointName | (typeof scheduledFunctions)[number]['function'];
export type EndpointRoute = HttpRoute | typeof fallbackRoute;

export function routeOf(functionName: EndpointName): EndpointRoute {
  if (functionName === fallbackRoute.function) return fallbackRoute;
  const route = httpRoutes.find((r) => r.function === functionName);
  if (!route) throw new Error(`No route in shared/routes.ts for function ${functionName}`);
  return route;
}
