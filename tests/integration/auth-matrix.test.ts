/**
 * Who may call what, for every route in the route table (shared/routes.ts), through the real chain
 * over HTTP (local gateway → middy → handler). Generated, so a route added to the table is in the
 * matrix without anyone remembering to add it:
 *   every non-public route × every bad token → 401 with the contract's body, and nothing written;
 *   every admin route × a valid user token → 403 FORBIDDEN, and nothing written.
 * The bad tokens are an admin's valid token with exactly one thing wrong, built with jose against the
 * test signing key; a control proves the same builder makes an accepted token when nothing is wrong.
 */

import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { decodeJwt, importJWK, type JWTHeaderParameters, type JWTPayload, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSigningKey, parseSigningKey, publicKeyOf } from '#shared/auth';
import { parseConfig } from '#shared/config';
import { type HttpRoute, httpRoutes } from '#shared/routes';
import { OrderRepository } from '../../shared/db/index.ts';
import { type Reply, startTestApi, type TestApi, unique } from '../support/api.ts';
import { stack } from '../support/services.ts';

const { JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE, JWT_SIGNING_KEY } = parseConfig();
const signingJwk = parseSigningKey(String(JWT_SIGNING_KEY));
const signingKey = await importJWK({ ...signingJwk }, 'ES256');
/** Another ES256 key under the same kid: a forger who guessed the kid but not the key. */
const otherKey = await importJWK({ ...newSigningKey() }, 'ES256');
/** The public key as an HMAC secret: the algorithm-confusion forgery. */
const publicAsSecret = new TextEncoder().encode(JSON.stringify(publicKeyOf(signingJwk)));

const store = stack();
const orderTable = new OrderRepository(store.doc, 'orders', 'products', 'purchases');

let api: TestApi;
let user: { id: number; token: string };
/** P has an open hot deal and a PENDING order of the user's; Q has no deal. */
let p: number;
let q: number;
let orderId: string;
let claims: JWTPayload;

beforeAll(async () => {
  api = await startTestApi();
  const admin = await api.admin();
  claims = decodeJwt(admin);
  user = await api.user('matrix');
  p = (await api.product(10)).id;
  q = (await api.product(10)).id;
  const started = await api.request('POST', `/api/products/${p}/hotdeal/start`, { token: admin, body: {} });
  expect(started.status).toBe(200);
  const order = await api.request('POST', '/api/orders', {
    token: user.token,
    body: { product_id: p, quantity: 2 },
  });
  expect(order.status).toBe(202);
  orderId = order.body.id;
});
afterAll(async () => {
  await api.close();
  await store.redis.quit();
});

/** An admin's token with `spoil` applied to an otherwise valid build. */
function adminToken(
  spoil: (jwt: SignJWT) => SignJWT = (jwt) => jwt,
  key: Parameters<SignJWT['sign']>[0] = signingKey,
  header: JWTHeaderParameters = { alg: 'ES256', typ: 'at+jwt', kid: signingJwk.kid },
) {
  const valid = new SignJWT({ username: claims.username, role: 'admin', ver: claims.ver })
    .setProtectedHeader(header)
    .setSubject(String(claims.sub))
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('10m');
  return spoil(valid).sign(key);
}

const hourAgo = () => Math.floor(Date.now() / 1000) - 3600;

/** The Authorization header each bad credential sends; undefined sends none. */
const badCredentials: Record<string, () => Promise<string | undefined>> = {
  missing: async () => undefined,
  malformed: async () => 'Bearer not.a.jwt',
  'alg none': async () =>
    `Bearer ${new UnsecuredJWT({ username: claims.username, role: 'admin' })
      .setSubject(String(claims.sub))
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('10m')
      .encode()}`,
  'forged signature': async () => `Bearer ${await adminToken(undefined, otherKey)}`,
  expired: async () =>
    `Bearer ${await adminToken((jwt) => jwt.setIssuedAt(hourAgo() - 60).setExpirationTime(hourAgo()))}`,
  'foreign issuer': async () => `Bearer ${await adminToken((jwt) => jwt.setIssuer('someone-else'))}`,
  'foreign audience': async () => `Bearer ${await adminToken((jwt) => jwt.setAudience('someone-else'))}`,
  'HS256 signed with the public key': async () =>
    `Bearer ${await adminToken(undefined, publicAsSecret, { alg: 'HS256', typ: 'at+jwt', kid: signingJwk.kid })}`,
  'unknown kid': async () =>
    `Bearer ${await adminToken(undefined, signingKey, { alg: 'ES256', typ: 'at+jwt', kid: 'retired' })}`,
  'no kid': async () => `Bearer ${await adminToken(undefined, signingKey, { alg: 'ES256', typ: 'at+jwt' })}`,
  'another token type': async () =>
    `Bearer ${await adminToken(undefined, signingKey, { alg: 'ES256', typ: 'JWT', kid: signingJwk.kid })}`,
  'older than the maximum age': async () =>
    `Bearer ${await adminToken((jwt) => jwt.setIssuedAt(hourAgo() - 120).setExpirationTime('10m'))}`,
};

const protectedRoutes: readonly HttpRoute[] = httpRoutes.filter((r) => r.access !== 'public');
const adminRoutes = protectedRoutes.filter((r) => r.access === 'admin');
const writeRoutes = protectedRoutes.filter((r) => r.method !== 'GET');

/**
 * What each write route would write if it let the caller in: a valid body aimed at P, Q or the order,
 * so a 401 or 403 is the only thing that stops the write.
 */
const writes: Record<string, { target: 'p' | 'q' | 'order' | 'none'; body?: () => unknown }> = {
  'create-product': { target: 'none', body: () => ({ name: unique('matrix'), price: 1, stock: 1 }) },
  'create-purchase': { target: 'q', body: () => ({ product_id: q, quantity: 1 }) },
  'start-hotdeal': { target: 'q', body: () => ({}) },
  'end-hotdeal': { target: 'p' },
  'create-order': { target: 'p', body: () => ({ product_id: p, quantity: 1 }) },
  'confirm-order': { target: 'order' },
  'cancel-order': { target: 'order' },
  'update-product': { target: 'p', body: () => ({ price: 2 }) },
  'delete-product': { target: 'q' },
  'adjust-stock': { target: 'p', body: () => ({ delta: 1, reason: 'matrix' }) },
  'release-lock': { target: 'p' },
  'update-user-role': { target: 'none', body: () => ({ role: 'admin' }) },
};

function requestFor(route: HttpRoute) {
  const write = writes[route.function];
  const id = route.path.startsWith('/api/orders/') ? orderId : String(write?.target === 'q' ? q : p);
  return { path: route.path.replace('{id}', id).replace('{product_id}', id), body: write?.body?.() };
}

async function call(route: HttpRoute, authorization: string | undefined): Promise<Reply> {
  const { path, body } = requestFor(route);
  return api.request(route.method, path, {
    ...(authorization && { headers: { authorization } }),
    ...(body !== undefined && { body }),
  });
}

/**
 * Everything a write route could change: the product id counter (a created product moves it), P's and
 * Q's durable and live state, their orders and sales, the user's order. Only write routes are checked.
 */
async function state(route: HttpRoute) {
  if (route.method === 'GET') return null;
  const live = (id: number) =>
    Promise.all(
      ['stock', 'holds', 'reservations', 'deal', 'dealusers'].map((k) => store.redis.hgetall(`${k}:{${id}}`)),
    );
  const both = <T>(read: (id: number) => Promise<T>) => Promise.all([p, q].map(read));
  const [counter, records, redis, order, orders, sold] = await Promise.all([
    store.doc.send(new GetCommand({ TableName: 'products', Key: { id: 0 }, ConsistentRead: true })),
    both((id) => store.products.get(id, true)),
    both(live),
    orderTable.get(orderId),
    both((id) => orderTable.listByProduct(id)),
    both((id) => store.purchases.unitsSold(id)),
  ]);
  return { nextProductId: counter.Item?.next_id, records, redis, order, orders, sold };
}

describe('the matrix', () => {
  it('covers every protected route, and knows what each write route would write', () => {
    expect(protectedRoutes.length).toBeGreaterThan(0);
    expect(adminRoutes.length).toBeGreaterThan(0);
    expect(writeRoutes.map((r) => r.function).filter((f) => !(f in writes))).toEqual([]);
  });

  it('builds a token that the API accepts when nothing is wrong with it (so each variant fails for one reason)', async () => {
    const reply = await api.request('GET', '/api/auth/me', { token: await adminToken() });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ id: Number(claims.sub), role: 'admin' });
  });
});

describe.each(protectedRoutes.map((r) => [`${r.method} ${r.path}`, r] as const))('%s', (_name, route) => {
  it.each(Object.keys(badCredentials))(
    'answers a %s token with 401 NOT_AUTHENTICATED and writes nothing',
    async (variant) => {
      const before = await state(route);
      const reply = await call(route, await badCredentials[variant]!());
      expect(reply.status).toBe(401);
      expect(reply.body).toEqual({ detail: 'Not authenticated', code: 'NOT_AUTHENTICATED' });
      expect(reply.headers.get('www-authenticate')).toBe('Bearer');
      expect(await state(route)).toEqual(before);
    },
  );

  if (route.access === 'admin')
    it("answers a user's valid token with 403 FORBIDDEN and writes nothing", async () => {
      const before = await state(route);
      const reply = await call(route, `Bearer ${user.token}`);
      expect(reply.status).toBe(403);
      expect(reply.body).toEqual({ detail: expect.any(String), code: 'FORBIDDEN' });
      expect(await state(route)).toEqual(before);
    });
});
