import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { matchRoute } from '../../shared/http/route-match.ts';
import { fallbackRoute, httpRoutes, routeOf, scheduledFunctions } from '../../shared/routes.ts';

const functionFile = (name: string) => fileURLToPath(new URL(`../../functions/${name}.ts`, import.meta.url));

describe('the route table', () => {
  it.each([...httpRoutes, fallbackRoute, ...scheduledFunctions].map((r) => [r.function]))(
    'has a handler file functions/%s.ts',
    (name) => {
      expect(existsSync(functionFile(name))).toBe(true);
    },
  );

  it('gives every function a unique name', () => {
    const names = [...httpRoutes, fallbackRoute, ...scheduledFunctions].map((r) => r.function);
    expect(new Set(names).size).toBe(names.length);
  });

  it('has no two routes with the same method and path', () => {
    const keys = httpRoutes.map((r) => `${r.method} ${r.path}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it.each(httpRoutes.map((r) => [r.path]))('serves %s under /api (the admin page at /admin)', (path) => {
    expect(path.startsWith('/api/') || path === '/admin').toBe(true);
  });

  it('covers every endpoint of the contract', () => {
    expect(httpRoutes.map((r) => `${r.method} ${r.path}`).sort()).toEqual(
      [
        'POST /api/auth/register',
        'POST /api/auth/login',
        'GET /api/auth/me',
        'POST /api/products',
        'GET /api/products',
        'GET /api/products/{id}',
        'GET /api/products/{id}/stock',
        'POST /api/purchases',
        'GET /api/purchases/me',
        'GET /api/health',
        'GET /api/admin/inventory/verify',
        'GET /api/admin/metrics',
        'POST /api/products/{id}/hotdeal/start',
        'POST /api/products/{id}/hotdeal/end',
        'POST /api/orders',
        'GET /api/orders/me',
        'GET /api/orders/{id}',
        'POST /api/orders/{id}/confirm',
        'POST /api/orders/{id}/cancel',
        'PATCH /api/products/{id}',
        'DELETE /api/products/{id}',
        'POST /api/admin/products/{id}/stock-adjustments',
        'GET /api/admin/purchases',
        'GET /api/admin/locks/{product_id}',
        'DELETE /api/admin/locks/{product_id}',
        'GET /api/admin/audit',
        'PATCH /api/admin/users/{id}',
        'GET /api/openapi.json',
        'GET /api/docs',
        'GET /api/docs/{asset}',
        'GET /admin',
      ].sort(),
    );
  });

  it('lets only admins change products and stock, run hot deals, verify, read the metrics and use the admin API', () => {
    const adminOnly = httpRoutes.filter((r) => r.access === 'admin').map((r) => `${r.method} ${r.path}`);
    expect(adminOnly.sort()).toEqual(
      [
        'GET /api/admin/inventory/verify',
        'GET /api/admin/metrics',
        'POST /api/products',
        'POST /api/products/{id}/hotdeal/end',
        'POST /api/products/{id}/hotdeal/start',
        'PATCH /api/products/{id}',
        'DELETE /api/products/{id}',
        'POST /api/admin/products/{id}/stock-adjustments',
        'GET /api/admin/purchases',
        'GET /api/admin/locks/{product_id}',
        'DELETE /api/admin/locks/{product_id}',
        'GET /api/admin/audit',
        'PATCH /api/admin/users/{id}',
      ].sort(),
    );
  });

  it('gives the metrics route a read of the users table (the stored role) alone: no other table, no Redis', () => {
    expect(httpRoutes.find((r) => r.function === 'get-metrics')?.uses).toEqual({
      tables: { users: 'read' },
      redis: false,
      jwt: 'verify',
    });
  });

  it('gives every admin route a read of the users table (the stored role is checked) and no more of it', () => {
    for (const route of httpRoutes.filter((r) => r.access === 'admin')) {
      const users = (route.uses.tables as Record<string, string>).users;
      expect(users, route.function).toBe(route.function === 'update-user-role' ? 'readWrite' : 'read');
    }
  });

  it('makes only register, login, health, the API document, its viewer and the admin page public', () => {
    const open = httpRoutes.filter((r) => r.access === 'public').map((r) => r.path);
    expect(open.sort()).toEqual(
      [
        '/admin',
        '/api/auth/login',
        '/api/auth/register',
        '/api/docs',
        '/api/docs/{asset}',
        '/api/health',
        '/api/openapi.json',
      ].sort(),
    );
  });

  it('gives the public pages and the API document nothing to reach', () => {
    for (const name of ['get-openapi', 'get-api-docs', 'get-api-docs-asset', 'get-admin-page']) {
      expect(httpRoutes.find((r) => r.function === name)?.uses).toEqual({
        tables: {},
        redis: false,
        jwt: false,
      });
    }
  });

  it('answers the creations with 201, everything else with 200', () => {
    const created = httpRoutes.filter((r) => r.successStatus === 201).map((r) => r.path);
    expect(created.sort()).toEqual(['/api/auth/register', '/api/products']);
  });

  it('gives the public keys to every route that is not public, and the private key to login alone', () => {
    for (const route of httpRoutes) {
      const expected =
        route.function === 'login-user' ? 'sign' : route.access === 'public' ? false : 'verify';
      expect(route.uses.jwt, route.function).toBe(expected);
    }
  });
});

describe('routeOf', () => {
  it('finds a route by its function name', () => {
    expect(routeOf('get-product')).toMatchObject({ method: 'GET', path: '/api/products/{id}' });
  });

  it('returns the $default route for route-not-found', () => {
    expect(routeOf('route-not-found')).toBe(fallbackRoute);
    expect(fallbackRoute).toMatchObject({ path: '$default', access: 'public' });
  });

  it('throws for a function that has no route', () => {
    expect(() => routeOf('reconcile-inventory' as never)).toThrow(/reconcile-inventory/);
  });
});

describe('matchRoute', () => {
  it('matches a static path', () => {
    const { match, allowed } = matchRoute('GET', '/api/auth/me');
    expect(match?.route.function).toBe('get-current-user');
    expect(match?.pathParameters).toEqual({});
    expect(allowed).toEqual(['GET']);
  });

  it('tells GET and POST of /api/products apart and allows both', () => {
    expect(matchRoute('GET', '/api/products').match?.route.function).toBe('list-products');
    expect(matchRoute('POST', '/api/products').match?.route.function).toBe('create-product');
    expect(matchRoute('GET', '/api/products').allowed.sort()).toEqual(['GET', 'POST']);
  });

  it('matches the method in any letter case', () => {
    expect(matchRoute('post', '/api/purchases').match?.route.function).toBe('create-purchase');
  });

  it('extracts the path parameter', () => {
    const { match } = matchRoute('GET', '/api/products/42/stock');
    expect(match?.route.function).toBe('get-product-stock');
    expect(match?.pathParameters).toEqual({ id: '42' });
  });

  it('decodes a percent-encoded path parameter', () => {
    expect(matchRoute('GET', '/api/products/a%20b').match?.pathParameters).toEqual({ id: 'a b' });
  });

  it('does not let a parameter span two segments', () => {
    const { match } = matchRoute('GET', '/api/products/1/2');
    expect(match).toBeNull();
  });

  it('answers a wrong method with no match and the allowed methods (for a 405)', () => {
    expect(matchRoute('PUT', '/api/products/7')).toEqual({
      match: null,
      allowed: ['GET', 'PATCH', 'DELETE'],
    });
    expect(matchRoute('GET', '/api/purchases')).toEqual({ match: null, allowed: ['POST'] });
  });

  it.each(['/api/nope', '/products', '/api', '/', '/api/products/7/stock/extra', '/API/products'])(
    'answers unknown path %s with no match and nothing allowed (a 404)',
    (path) => {
      expect(matchRoute('GET', path)).toEqual({ match: null, allowed: [] });
    },
  );

  it.each(['/api/products/', '/api/auth/me/', '/api/products/7/'])(
    'does not match %s with its trailing slash',
    (path) => {
      expect(matchRoute('GET', path).match).toBeNull();
    },
  );

  it('does not match an empty path parameter', () => {
    expect(matchRoute('GET', '/api/products//stock').match).toBeNull();
  });

  it('treats a malformed percent escape as a path that does not match, instead of throwing', () => {
    expect(() => matchRoute('GET', '/api/products/%E0%A4%A')).not.toThrow();
  });
});
