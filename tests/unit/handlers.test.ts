/**
 * Handlers through the real middy chain, for the requests that must be answered before any service
 * (Redis, DynamoDB) is built. The providers record what they build (builtProviders), and every
 * socket connect is refused and recorded: these tests prove the 401/413/415/422 paths build no
 * service and never touch the network.
 */
import net from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { lambdaContext } from '../../bin/local/api-gateway.ts';

const MAX_BODY_BYTES = 1024;

vi.hoisted(() => {
  // A public key whose private half nobody has: every token here must fail to verify.
  process.env.JWT_VERIFY_KEYS =
    '[{"kty":"EC","crv":"P-256","x":"uy1A_CmbuI4Kb_zFai-iAui45jNWTNakBl5GcT6jEdQ","y":"B4G8YUtpoRLA9poLKtUr2412QvXF-jZv1b3MDwvFTiQ","kid":"2026-11-28-c93aeb7de685","alg":"ES256","use":"sig"}]';
  process.env.MAX_BODY_BYTES = '1024';
  // Nothing listens here; the socket spy below fails the test long before it would matter.
  process.env.REDIS_URL = 'redis://127.0.0.1:9';
  process.env.DYNAMODB_ENDPOINT = 'http://127.0.0.1:9';
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

const { builtProviders } = await import('../../shared/wiring/provider.ts');

const { handler: registerUser } = await import('../../functions/register-user.ts');
const { handler: getCurrentUser } = await import('../../functions/get-current-user.ts');
const { handler: createProduct } = await import('../../functions/create-product.ts');
const { handler: getProduct } = await import('../../functions/get-product.ts');
const { handler: listProducts } = await import('../../functions/list-products.ts');
const { handler: createPurchase } = await import('../../functions/create-purchase.ts');
const { handler: verifyInventory } = await import('../../functions/verify-inventory.ts');

type Handler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

const connect = vi.spyOn(net.Socket.prototype, 'connect').mockImplementation(() => {
  throw new Error('unit tests must not open sockets');
});

beforeAll(() => {
  connect.mockClear();
});
afterEach(() => {
  expect(builtProviders()).toEqual([]);
  expect(connect).not.toHaveBeenCalled();
});
afterAll(() => {
  connect.mockRestore();
});

/** An API Gateway HTTP API (payload 2.0) event, as API Gateway or bin/local/api-gateway.ts builds it. */
function event(
  method: string,
  path: string,
  options: {
    headers?: Record<string, string>;
    body?: string;
    isBase64Encoded?: boolean;
    pathParameters?: Record<string, string>;
    query?: Record<string, string>;
  } = {},
): APIGatewayProxyEventV2 {
  const routeKey = `${method} ${path}`;
  return {
    version: '2.0',
    routeKey,
    rawPath: path,
    rawQueryString: new URLSearchParams(options.query ?? {}).toString(),
    headers: { host: 'localhost', 'user-agent': 'vitest', ...options.headers },
    ...(options.query && { queryStringParameters: options.query }),
    ...(options.pathParameters && { pathParameters: options.pathParameters }),
    requestContext: {
      accountId: '000000000000',
      apiId: 'unit',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'vitest' },
      requestId: 'unit-request',
      routeKey,
      stage: '$default',
      time: new Date(0).toUTCString(),
      timeEpoch: 0,
    },
    ...(options.body !== undefined && { body: options.body }),
    isBase64Encoded: options.isBase64Encoded ?? false,
  };
}

// The same Lambda context the local runtime hands every handler.
const context = lambdaContext('unit', 'unit-request');

async function call(handler: unknown, request: APIGatewayProxyEventV2) {
  const result = await (handler as Handler)(request, context);
  return {
    status: result.statusCode,
    headers: result.headers ?? {},
    body: JSON.parse(String(result.body)) as { detail: string; code: string } & Record<string, any>,
  };
}

const JSON_TYPE = { 'content-type': 'application/json' };
const register = (body: string, headers: Record<string, string> = JSON_TYPE) =>
  call(registerUser, event('POST', '/api/auth/register', { body, headers }));

describe('authentication', () => {
  it('answers a request without a bearer token with 401 NOT_AUTHENTICATED and WWW-Authenticate', async () => {
    const reply = await call(getCurrentUser, event('GET', '/api/auth/me'));
    expect(reply.status).toBe(401);
    expect(reply.body).toEqual({ detail: 'Not authenticated', code: 'NOT_AUTHENTICATED' });
    expect(reply.headers['www-authenticate']).toBe('Bearer');
    expect(reply.headers['content-type']).toMatch(/^application\/json/);
    expect(reply.headers['cache-control']).toBe('no-store');
  });

  it.each([
    ['an empty header', ''],
    ['Basic credentials', 'Basic YWxpY2U6cGFzc3dvcmQ='],
    ['the scheme without a token', 'Bearer'],
    ['the scheme and blanks', 'Bearer    '],
    ['two tokens', 'Bearer a.b.c d.e.f'],
    ['a bare token', 'eyJhbGciOiJIUzI1NiJ9.e30.sig'],
  ])('answers %s with 401 before building any service', async (_why, authorization) => {
    const reply = await call(getCurrentUser, event('GET', '/api/auth/me', { headers: { authorization } }));
    expect(reply.status).toBe(401);
    expect(reply.body.code).toBe('NOT_AUTHENTICATED');
  });

  it.each([
    ['GET /api/products', listProducts, event('GET', '/api/products')],
    ['GET /api/products/{id}', getProduct, event('GET', '/api/products/1', { pathParameters: { id: '1' } })],
    ['GET /api/admin/inventory/verify', verifyInventory, event('GET', '/api/admin/inventory/verify')],
    [
      'POST /api/purchases',
      createPurchase,
      event('POST', '/api/purchases', { headers: JSON_TYPE, body: '{"product_id":1,"quantity":1}' }),
    ],
  ])('refuses %s without a token', async (_route, handler, request) => {
    const reply = await call(handler, request);
    expect(reply.status).toBe(401);
    expect(reply.body.code).toBe('NOT_AUTHENTICATED');
  });

  it('checks the token before the body: malformed JSON without a token is a 401, not a 422', async () => {
    const reply = await call(
      createProduct,
      event('POST', '/api/products', { headers: JSON_TYPE, body: '{"name":' }),
    );
    expect(reply.status).toBe(401);
  });

  it('checks the token before the path: /api/products/abc without a token is a 401', async () => {
    const reply = await call(
      getProduct,
      event('GET', '/api/products/abc', { pathParameters: { id: 'abc' } }),
    );
    expect(reply.status).toBe(401);
  });
});

describe('request bodies', () => {
  it('answers malformed JSON with 422 INVALID_JSON', async () => {
    const reply = await register('{"username": "alice", ');
    expect(reply.status).toBe(422);
    expect(reply.body).toEqual({ detail: expect.any(String), code: 'INVALID_JSON' });
  });

  it('keeps the parser message out of the INVALID_JSON body', async () => {
    const reply = await register('{"username": secret-token}');
    expect(JSON.stringify(reply.body)).not.toContain('secret-token');
    expect(JSON.stringify(reply.body)).not.toContain('position');
  });

  it.each([
    ['text/plain', { 'content-type': 'text/plain' }],
    ['form data', { 'content-type': 'application/x-www-form-urlencoded' }],
    ['application/jsonp', { 'content-type': 'application/jsonp' }],
    ['no content-type', {} as Record<string, string>],
  ])('answers a body sent as %s with 415 UNSUPPORTED_MEDIA_TYPE', async (_why, headers) => {
    const reply = await register('{"username":"alice","password":"password123"}', headers);
    expect(reply.status).toBe(415);
    expect(reply.body).toEqual({ detail: expect.any(String), code: 'UNSUPPORTED_MEDIA_TYPE' });
  });

  it.each(['application/json; charset=utf-8', 'application/vnd.api+json'])(
    'reads a JSON body sent as %s',
    async (contentType) => {
      const reply = await register('{"password":"password123"}', { 'content-type': contentType });
      expect(reply.status).toBe(422);
      expect(reply.body.code).toBe('VALIDATION_ERROR');
    },
  );

  it('reads the Content-Type header in any letter case of its name', async () => {
    const reply = await register('{"password":"password123"}', { 'Content-Type': 'application/json' });
    expect(reply.body.code).toBe('VALIDATION_ERROR');
  });

  // Media types are case-insensitive (RFC 9110 §8.3.1): endpoint.ts hands middy's (case-sensitive)
  // parser the lower-cased media type.
  it('reads a JSON body whose media type is written in capitals', async () => {
    const reply = await register('{"password":"password123"}', { 'content-type': 'Application/JSON' });
    expect(reply.body.code).toBe('VALIDATION_ERROR');
  });

  it('answers a request without a body with 422 naming each required field', async () => {
    const reply = await call(registerUser, event('POST', '/api/auth/register', { headers: JSON_TYPE }));
    expect(reply.status).toBe(422);
    expect(reply.body.errors.map((e: { field: string }) => e.field)).toEqual([
      'body.username',
      'body.password',
    ]);
  });

  it('answers a missing field with 422 VALIDATION_ERROR naming body.username', async () => {
    const reply = await register('{"password":"password123"}');
    expect(reply.status).toBe(422);
    expect(reply.body.code).toBe('VALIDATION_ERROR');
    expect(reply.body.detail).toContain('body.username');
    expect(reply.body.errors).toEqual([{ field: 'body.username', message: expect.any(String) }]);
  });

  it('names every invalid field in one 422', async () => {
    const reply = await register('{"username":"a b","password":"short"}');
    expect(reply.status).toBe(422);
    expect(reply.body.errors.map((e: { field: string }) => e.field).sort()).toEqual([
      'body.password',
      'body.username',
    ]);
  });

  it.each([
    ['an array', '[]'],
    ['a string', '"alice"'],
    ['null', 'null'],
  ])('answers a JSON body that is %s with 422', async (_why, body) => {
    const reply = await register(body);
    expect(reply.status).toBe(422);
    expect(reply.body.code).toBe('VALIDATION_ERROR');
  });

  it('answers a 73-byte password with 422 naming body.password', async () => {
    const reply = await register(JSON.stringify({ username: 'alice', password: 'p'.repeat(73) }));
    expect(reply.status).toBe(422);
    expect(reply.body.detail).toContain('body.password');
  });
});

describe('body size limit', () => {
  const padded = (bytes: number) => {
    const skeleton = JSON.stringify({ password: '' });
    return JSON.stringify({ password: 'p'.repeat(bytes - Buffer.byteLength(skeleton)) });
  };

  it('answers a body one byte over MAX_BODY_BYTES with 413 PAYLOAD_TOO_LARGE', async () => {
    const body = padded(MAX_BODY_BYTES + 1);
    expect(Buffer.byteLength(body)).toBe(MAX_BODY_BYTES + 1);
    const reply = await register(body);
    expect(reply.status).toBe(413);
    expect(reply.body).toEqual({
      detail: expect.stringContaining(String(MAX_BODY_BYTES)),
      code: 'PAYLOAD_TOO_LARGE',
    });
  });

  it('reads a body of exactly MAX_BODY_BYTES', async () => {
    const body = padded(MAX_BODY_BYTES);
    expect(Buffer.byteLength(body)).toBe(MAX_BODY_BYTES);
    const reply = await register(body);
    expect(reply.status).toBe(422);
    expect(reply.body.detail).toContain('body.username');
  });

  it('counts bytes, not characters: 400 Hangul syllables (1,200 bytes) are over a 1,024-byte limit', async () => {
    const body = JSON.stringify({ username: '가'.repeat(400) });
    expect(body.length).toBeLessThan(MAX_BODY_BYTES);
    expect((await register(body)).status).toBe(413);
  });

  it('counts the decoded size of a base64-encoded body', async () => {
    const decoded = Buffer.from(padded(MAX_BODY_BYTES + 1));
    const reply = await call(
      registerUser,
      event('POST', '/api/auth/register', {
        headers: JSON_TYPE,
        body: decoded.toString('base64'),
        isBase64Encoded: true,
      }),
    );
    expect(reply.status).toBe(413);
  });

  it('refuses an oversized body before authentication: 413, not 401, on an admin route', async () => {
    const reply = await call(
      createProduct,
      event('POST', '/api/products', { headers: JSON_TYPE, body: padded(MAX_BODY_BYTES * 2) }),
    );
    expect(reply.status).toBe(413);
  });
});
