/**
 * The OpenAPI 3.1 document, generated from the code: the route table (shared/routes.ts) gives the
 * paths, methods, access and success statuses; the request schemas the handlers validate with
 * (schemas.ts) and the response schemas (responses.ts) give the bodies, through zod's own JSON Schema
 * output. Served at /api/openapi.json; `npm run openapi` writes docs/openapi.json, which a unit test
 * keeps current.
 */
import * as z from 'zod';
import { type HttpRoute, httpRoutes } from '../routes.ts';
import * as responses from './responses.ts';
import * as schemas from './schemas.ts';

type FunctionOf<R> = R extends { function: infer F } ? F : never;
type HttpFunction = FunctionOf<(typeof httpRoutes)[number]>;

interface Operation {
  readonly params?: z.ZodObject;
  readonly query?: z.ZodObject;
  readonly headers?: z.ZodObject;
  readonly body?: z.ZodType;
  /** The success body: a JSON schema, or another media type (pages, scripts). */
  readonly response?: z.ZodType | { readonly mediaType: string };
  /** Statuses this operation answers besides the ones every route of its kind may (see `errorsOf`). */
  readonly errors?: Readonly<Record<number, string>>;
  readonly description?: string;
}

const notFound = { 404: 'PRODUCT_NOT_FOUND' };

/** Every route's request and response; a route missing here does not compile. */
export const operations = {
  'register-user': {
    body: schemas.registerBody,
    response: responses.registered,
    errors: { 409: 'USER_EXISTS' },
  },
  'login-user': {
    body: schemas.loginBody,
    response: responses.token,
    errors: { 401: 'INVALID_CREDENTIALS', 429: 'TOO_MANY_REQUESTS' },
  },
  'get-current-user': { response: responses.user },
  'get-health': {
    response: responses.health,
    errors: { 503: 'SERVICE_UNAVAILABLE, with the failing part named' },
  },
  'create-product': {
    body: schemas.createProductBody,
    response: responses.product,
    errors: { 422: 'VALIDATION_ERROR or INVALID_BUNDLE', 503: 'STOCK_UNAVAILABLE' },
  },
  'list-products': { query: schemas.pageQuery, response: responses.products },
  'get-product': { params: schemas.idParams, response: responses.product, errors: notFound },
  'get-product-stock': { params: schemas.idParams, response: responses.stockView, errors: notFound },
  'create-purchase': {
    body: schemas.purchaseBody,
    headers: schemas.idempotencyHeaders,
    response: responses.purchase,
    errors: {
      400: 'INSUFFICIENT_STOCK',
      404: 'PRODUCT_NOT_FOUND',
      409: "LOCK_CONFLICT, PURCHASE_IN_PROGRESS, PURCHASE_LIMIT (the buyer's units would pass a product's max_per_user), PRICE_CHANGED, CAP_CHANGED, or STOCK_TOO_SPREAD (a cart whose sharded products' last units span more than one transaction's 100 writes: buy them on their own)",
      422: 'VALIDATION_ERROR, IDEMPOTENCY_KEY_REUSED or TOO_MANY_PRODUCTS',
      503: 'PURCHASE_NOT_RECORDED or PURCHASE_OUTCOME_UNKNOWN',
    },
  },
  'list-my-purchases': { response: responses.purchases, description: 'Newest first' },
  'verify-inventory': {
    query: schemas.verifyQuery,
    response: responses.inventory,
    description: 'Every product, or those `product_id` names (comma-separated, extension).',
  },
  'start-hotdeal': {
    params: schemas.idParams,
    body: schemas.hotDealStartBody,
    response: responses.dealStarted,
    errors: { ...notFound, 409: 'DEAL_ALREADY_ACTIVE' },
  },
  'end-hotdeal': { params: schemas.idParams, response: responses.dealEnded, errors: notFound },
  'create-order': {
    body: schemas.orderBody,
    response: responses.order,
    errors: {
      400: 'INSUFFICIENT_STOCK',
      404: 'PRODUCT_NOT_FOUND',
      409: 'DEAL_NOT_ACTIVE or PURCHASE_LIMIT',
      503: 'ORDER_NOT_RECORDED or ORDER_OUTCOME_UNKNOWN',
    },
  },
  'list-my-orders': { response: responses.orders, description: 'Newest first' },
  'get-order': {
    params: schemas.orderIdParams,
    response: responses.order,
    errors: { 404: 'ORDER_NOT_FOUND' },
  },
  'confirm-order': {
    params: schemas.orderIdParams,
    response: responses.order,
    errors: { 400: 'INSUFFICIENT_STOCK', 404: 'ORDER_NOT_FOUND', 409: 'ORDER_EXPIRED or ORDER_NOT_PENDING' },
  },
  'cancel-order': {
    params: schemas.orderIdParams,
    response: responses.order,
    errors: { 404: 'ORDER_NOT_FOUND', 409: 'ORDER_NOT_PENDING' },
  },
  'update-product': {
    params: schemas.idParams,
    body: schemas.updateProductBody,
    response: responses.product,
    errors: notFound,
  },
  'delete-product': {
    params: schemas.idParams,
    errors: { ...notFound, 409: 'DEAL_ACTIVE: end the hot deal first; PRODUCT_BUSY: sales kept changing it' },
    description: 'Afterwards the product is 404 for reads and purchases; its purchases stay in history.',
  },
  'adjust-stock': {
    params: schemas.idParams,
    body: schemas.stockAdjustmentBody,
    response: responses.stockAdjustment,
    errors: {
      400: 'INSUFFICIENT_STOCK: removing more than is unsold (during a hot deal: more than its free units)',
      ...notFound,
      409: 'PRODUCT_BUSY: a hot deal kept starting and ending under it',
      503: 'ADJUSTMENT_OUTCOME_UNKNOWN (the audit log tells) or STOCK_UNAVAILABLE',
    },
    description:
      'Safe while a sale runs: after any mix of adjustments and purchases, initial stock + Σ deltas = ' +
      'remaining + Σ sold, in DynamoDB and in Redis. During a hot deal it moves the deal’s free units: ' +
      'added ones are orderable at once, and units reserved by PENDING orders are never removed. ' +
      'Recorded in the audit log.',
  },
  'list-purchases': {
    query: schemas.adminPurchasesQuery,
    response: responses.purchasePage,
    description:
      'By buyer: newest first. By product alone: by purchase id. Neither: every purchase. A page may ' +
      'hold fewer than `limit` items while `next_cursor` leads on.',
  },
  'get-lock': { params: schemas.lockParams, response: responses.lock, errors: notFound },
  'release-lock': {
    params: schemas.lockParams,
    errors: notFound,
    description:
      "Deletes the lock whoever holds it. The holder's own release then finds nothing; DynamoDB's " +
      'condition keeps the sale exact. Recorded in the audit log.',
  },
  'list-audit': { query: schemas.auditQuery, response: responses.auditPage, description: 'Newest first' },
  'update-user-role': {
    params: schemas.idParams,
    body: schemas.roleBody,
    response: responses.user,
    errors: { 404: 'USER_NOT_FOUND' },
    description: 'Takes effect on the next request: admin routes check the role stored now, not the token.',
  },
  'get-openapi': { response: responses.openApiDocument },
  'get-api-docs': { response: { mediaType: 'text/html' } },
  'get-api-docs-asset': {
    params: schemas.assetParams,
    response: { mediaType: 'application/octet-stream' },
    errors: { 404: 'NOT_FOUND' },
  },
  'get-admin-page': { response: { mediaType: 'text/html' } },
  'get-metrics': {
    response: responses.metrics,
    errors: { 501: 'METRICS_IN_CLOUDWATCH: deployed, the numbers are on the CloudWatch dashboard' },
    description:
      "The local runtime's metrics, summed from the functions' metric records (the same numbers as " +
      'Prometheus text at /metrics). Deployed, answers 501: they are in CloudWatch.',
  },
} as const satisfies Record<HttpFunction, Operation>;

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Record<string, unknown>;

/** A part of the request (path, query, headers) as OpenAPI parameters. */
function parameters(where: 'path' | 'query' | 'header', schema: z.ZodObject | undefined) {
  if (!schema) return [];
  const object = jsonSchema(schema, 'input') as { properties?: Record<string, object>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || (object.required ?? []).includes(name),
    schema: property,
  }));
}

const errorBody = { $ref: '#/components/schemas/Error' };
const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: errorBody } },
});

/** The errors every route of its kind may answer, then the route's own. */
function errorsOf(route: HttpRoute, operation: Operation) {
  const errors: Record<string, object> = {};
  const add = (status: number, description: string) => {
    errors[String(status)] = errorResponse(description);
  };
  if (route.access !== 'public') add(401, 'NOT_AUTHENTICATED: no, a malformed, an expired or a forged token');
  if (route.access === 'admin') add(403, 'FORBIDDEN: the caller is not an admin (now)');
  if (operation.params || operation.query || operation.body || operation.headers)
    add(422, 'VALIDATION_ERROR naming each offending field');
  if (operation.body) {
    add(413, 'PAYLOAD_TOO_LARGE');
    add(415, 'UNSUPPORTED_MEDIA_TYPE: the body must be JSON');
  }
  for (const [status, description] of Object.entries(operation.errors ?? {}))
    add(Number(status), description);
  return errors;
}

function successOf(route: HttpRoute, operation: Operation) {
  const { response } = operation;
  if (route.successStatus === 204 || !response) return { description: 'Done; no body' };
  if ('mediaType' in response) return { description: 'OK', content: { [response.mediaType]: {} } };
  return { description: 'OK', content: { 'application/json': { schema: jsonSchema(response, 'output') } } };
}

/** Drops the `$schema` line zod puts on every schema: inside a document it is noise. */
function withoutDialect(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutDialect);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== '$schema')
      .map(([key, v]) => [key, withoutDialect(v)]),
  );
}

export function openApiDocument() {
  const paths: Record<string, Record<string, object>> = {};
  for (const route of httpRoutes) {
    const operation: Operation = operations[route.function];
    const body = 'body' in operation ? operation.body : undefined;
    paths[route.path] ??= {};
    (paths[route.path] as Record<string, object>)[route.method.toLowerCase()] = {
      operationId: route.function,
      summary: route.summary,
      ...(operation.description && { description: operation.description }),
      tags: [
        route.path.startsWith('/api/admin') || route.access === 'admin'
          ? 'admin'
          : (route.path.split('/')[2] ?? 'pages'),
      ],
      ...(route.access !== 'public' && { security: [{ bearer: [] }] }),
      parameters: [
        ...parameters('path', operation.params),
        ...parameters('query', operation.query),
        ...parameters('header', operation.headers),
      ],
      ...(body && {
        requestBody: {
          required: true,
          content: { 'application/json': { schema: jsonSchema(body, 'input') } },
        },
      }),
      responses: {
        [String(route.successStatus)]: successOf(route, operation),
        ...errorsOf(route, operation),
        default: errorResponse(
          'INTERNAL_ERROR (500) or SERVICE_UNAVAILABLE (503, with Retry-After); any error carries this body',
        ),
      },
    };
  }
  return withoutDialect({
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'Flash-sale inventory API',
      version: '1.0.0',
      description:
        'A limited stock sold to a stampede of buyers, never one unit too many. Field names are ' +
        'snake_case, times ISO-8601 UTC, every error `{detail, code}`.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: { Error: jsonSchema(responses.error, 'output') },
    },
    paths,
  }) as { openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
}
