/**
 * The `$default` route's handler (functions/route-not-found.ts) through middy. Its answer depends on
 * nothing but the route table: it asks for no provider, so no Redis client, no DynamoDB client and
 * no socket exist in its function.
 */
import net from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { lambdaContext } from '../../bin/local/api-gateway.ts';

vi.hoisted(() => {
  // A public key whose private half nobody has: every token here must fail to verify.
  process.env.JWT_VERIFY_KEYS =
    '[{"kty":"EC","crv":"P-256","x":"uy1A_CmbuI4Kb_zFai-iAui45jNWTNakBl5GcT6jEdQ","y":"B4G8YUtpoRLA9poLKtUr2412QvXF-jZv1b3MDwvFTiQ","kid":"2026-11-28-c93aeb7de685","alg":"ES256","use":"sig"}]';
  process.env.REDIS_URL = 'redis://127.0.0.1:9';
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

const { builtProviders } = await import('../../shared/wiring/provider.ts');

const { handler } = (await import('../../functions/route-not-found.ts')) as unknown as {
  handler: (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;
};

const connect = vi.spyOn(net.Socket.prototype, 'connect').mockImplementation(() => {
  throw new Error('unit tests must not open sockets');
});

afterEach(() => {
  expect(connect).not.toHaveBeenCalled();
});
afterAll(() => {
  connect.mockRestore();
});

function fallbackEvent(method: string, path: string): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { host: 'localhost' },
    requestContext: {
      accountId: '000000000000',
      apiId: 'unit',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'vitest' },
      requestId: 'unit-request',
      routeKey: '$default',
      stage: '$default',
      time: new Date(0).toUTCString(),
      timeEpoch: 0,
    },
    isBase64Encoded: false,
  };
}

// The same Lambda context the local runtime hands every handler.
const context = lambdaContext('route-not-found', 'unit-request');

async function call(method: string, path: string) {
  const result = await handler(fallbackEvent(method, path), context);
  return { status: result.statusCode, headers: result.headers ?? {}, body: JSON.parse(String(result.body)) };
}

describe('route-not-found', () => {
  it.each(['/api/nope', '/', '/api/products/7/stock/extra', '/api/products/'])(
    'answers GET %s with 404 NOT_FOUND',
    async (path) => {
      const reply = await call('GET', path);
      expect(reply.status).toBe(404);
      expect(reply.body).toEqual({ detail: 'Not found', code: 'NOT_FOUND' });
      expect(reply.headers).not.toHaveProperty('allow');
    },
  );

  it('does not echo the unknown path back', async () => {
    const reply = await call('GET', '/api/<script>alert(1)</script>');
    expect(JSON.stringify(reply.body)).not.toContain('script');
  });

  it('answers PUT /api/products/7 with 405 METHOD_NOT_ALLOWED and Allow: GET, PATCH, DELETE', async () => {
    const reply = await call('PUT', '/api/products/7');
    expect(reply.status).toBe(405);
    expect(reply.body).toEqual({ detail: expect.any(String), code: 'METHOD_NOT_ALLOWED' });
    expect(reply.headers.allow).toBe('GET, PATCH, DELETE');
  });

  it('lists both methods of /api/products in the Allow header of a PUT', async () => {
    const reply = await call('PUT', '/api/products');
    expect(reply.status).toBe(405);
    expect(String(reply.headers.allow).split(', ').sort()).toEqual(['GET', 'POST']);
  });

  it('answers GET /api/purchases with 405 and Allow: POST', async () => {
    const reply = await call('GET', '/api/purchases');
    expect(reply.status).toBe(405);
    expect(reply.headers.allow).toBe('POST');
  });

  it('needs no token', async () => {
    expect((await call('GET', '/api/admin/nope')).status).toBe(404);
  });

  // routes.ts declares no resources for route-not-found, so its deployed function has no REDIS_URL and
  // no table: it must answer without building the services.
  it('answers a 404 without building the services (no Redis or DynamoDB client)', async () => {
    await call('GET', '/api/nope');
    expect(builtProviders()).toEqual([]);
  });
});
