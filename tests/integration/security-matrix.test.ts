/**
 * The security matrix (docs/security.md): one describe per row of the OWASP API Security Top 10
 * (2023), each a test through the real chain (local gateway → middy → handler) over the test Redis
 * and DynamoDB Local that asserts the exact status and that nothing was written. Limits are raced
 * with parallel requests and counted.
 *
 * Every request that a per-address limit could see comes from its own loopback address
 * (127.x.y.z, all of which reach the gateway on Linux), so the rows neither share a window with each
 * other nor with the other test files. The limits are set low here to keep the races short; what is
 * tested is the code path the defaults use.
 */
process.env.LOGIN_FAILURES_PER_USERNAME = '5';
process.env.LOGIN_FAILURES_PER_ADDRESS = '8';
process.env.SIGNUPS_PER_ADDRESS = '3';
process.env.HOTDEAL_DEFAULT_MAX_PER_USER = '1';
process.env.CORS_ALLOWED_ORIGINS = 'https://shop.example';
process.env.PRODUCT_LIST_CACHE_MS = '2000';

import { randomInt } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import net from 'node:net';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SEQUENCE_SHARDS } from '../../shared/db/users.ts';
import { documentClient } from '../../shared/wiring/dynamodb.ts';
import { countStatuses, type Reply, startTestApi, type TestApi, unique } from '../support/api.ts';
import { services } from '../support/app.ts';
import { stack } from '../support/services.ts';
import { until } from '../support/wait.ts';

const store = stack();
let api: TestApi;
let admin: string;

beforeAll(async () => {
  api = await startTestApi();
  admin = await api.admin();
});
afterAll(async () => {
  await api.close();
  await store.redis.quit();
});

/** A fresh loopback address: the client address API Gateway would report as sourceIp. */
const newAddress = () => `127.${randomInt(1, 255)}.${randomInt(0, 255)}.${randomInt(1, 255)}`;

type Options = { token?: string; body?: unknown; headers?: Record<string, string> };

/** A request from `address`, over real HTTP. */
function from(address: string) {
  return (method: string, path: string, options: Options = {}) =>
    new Promise<Reply>((resolve, reject) => {
      const data = options.body === undefined ? undefined : JSON.stringify(options.body);
      const headers: Record<string, string> = {
        ...options.headers,
        ...(options.token && { authorization: `Bearer ${options.token}` }),
        ...(data !== undefined && { 'content-type': 'application/json' }),
      };
      const req = httpRequest(`${api.url}${path}`, { method, localAddress: address, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : null;
          } catch {}
          const replyHeaders = new Headers();
          for (const [name, value] of Object.entries(res.headers))
            if (value !== undefined) replyHeaders.set(name, Array.isArray(value) ? value.join(', ') : value);
          resolve({ status: res.statusCode ?? 0, body: body as never, headers: replyHeaders });
        });
      });
      req.on('error', reject);
      if (data !== undefined) req.write(data);
      req.end();
    });
}

/** A user made through the service (no address counted) with a token from a fresh address. */
async function quickUser(prefix = 'sec') {
  const username = unique(prefix);
  const user = await (await services()).accounts.register({ username, password: 'password123' });
  const login = await from(newAddress())('POST', '/api/auth/login', {
    body: { username, password: 'password123' },
  });
  expect(login.status).toBe(200);
  return { id: user.id, username, token: login.body.access_token as string };
}

const userRow = async (id: number) =>
  (
    await store.doc.send(
      new GetCommand({ TableName: 'users', Key: { pk: `USER#${id}` }, ConsistentRead: true }),
    )
  ).Item;
const productCounter = async () =>
  (await store.doc.send(new GetCommand({ TableName: 'products', Key: { id: 0 }, ConsistentRead: true }))).Item
    ?.next_id;

function expectTooMany(reply: Reply, limit: string) {
  expect(reply.status).toBe(429);
  expect(reply.body).toMatchObject({ code: 'TOO_MANY_REQUESTS', limit, detail: expect.any(String) });
  expect(Number(reply.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
}

describe('API1 broken object level authorization', () => {
  it("answers another user's order with 404 for reads and cancels, and leaves it PENDING", async () => {
    const product = await api.product(10);
    expect(
      (await api.request('POST', `/api/products/${product.id}/hotdeal/start`, { token: admin, body: {} }))
        .status,
    ).toBe(200);
    const [owner, intruder] = [await quickUser(), await quickUser()];
    const order = await api.request('POST', '/api/orders', {
      token: owner.token,
      body: { product_id: product.id, quantity: 1 },
    });
    expect(order.status).toBe(202);
    for (const [method, path] of [
      ['GET', `/api/orders/${order.body.id}`],
      ['POST', `/api/orders/${order.body.id}/cancel`],
      ['POST', `/api/orders/${order.body.id}/confirm`],
    ] as const) {
      const reply = await api.request(method, path, { token: intruder.token });
      expect(reply.status, path).toBe(404);
      expect(reply.body.code).toBe('ORDER_NOT_FOUND');
    }
    const mine = await api.request('GET', `/api/orders/${order.body.id}`, { token: owner.token });
    expect(mine.body.status).toBe('PENDING');
  });
});

describe('API2 broken authentication', () => {
  it('lets exactly 5 of 15 parallel wrong guesses for one username reach bcrypt; the rest are 429', async () => {
    const victim = await quickUser('victim');
    const replies = await Promise.all(
      Array.from({ length: 15 }, () =>
        from(newAddress())('POST', '/api/auth/login', {
          body: { username: victim.username, password: 'guess-123' },
        }),
      ),
    );
    expect(countStatuses(replies)).toEqual({ 401: 5, 429: 10 });
    for (const r of replies.filter((r) => r.status === 429)) expectTooMany(r, 'login-username');
    // The username is locked for the window, even with the right password: that is the point.
    const right = await from(newAddress())('POST', '/api/auth/login', {
      body: { username: victim.username, password: 'password123' },
    });
    expectTooMany(right, 'login-username');
  });

  it('stops an address after 8 failures across usernames, while successes from another address never count', async () => {
    const stuffer = from(newAddress());
    const replies: Reply[] = [];
    for (let i = 0; i < 10; i += 1)
      replies.push(
        await stuffer('POST', '/api/auth/login', {
          body: { username: unique('nobody'), password: 'guess-123' },
        }),
      );
    expect(replies.map((r) => r.status)).toEqual([401, 401, 401, 401, 401, 401, 401, 401, 429, 429]);
    expectTooMany(replies[9]!, 'login-address');

    const crowd = from(newAddress());
    const people = await Promise.all(Array.from({ length: 6 }, () => quickUser('crowd')));
    const logins = await Promise.all(
      [...people, ...people].map((p) =>
        crowd('POST', '/api/auth/login', { body: { username: p.username, password: 'password123' } }),
      ),
    );
    expect(countStatuses(logins)).toEqual({ 200: 12 });
    // Twelve successes later the address is still far from its 8 failures: a wrong password is a 401.
    const wrong = await crowd('POST', '/api/auth/login', {
      body: { username: people[0]!.username, password: 'wrong-password' },
    });
    expect(wrong.status).toBe(401);
  });

  it('refuses a password longer than 72 bytes with 401, even when its first 72 bytes are the password', async () => {
    const username = unique('long');
    const password = 'p'.repeat(72);
    await (await services()).accounts.register({ username, password });
    const login = (pw: string) =>
      from(newAddress())('POST', '/api/auth/login', { body: { username, password: pw } });
    const longer = await login(`${password}extra`);
    expect(longer.status).toBe(401);
    expect(longer.body.code).toBe('INVALID_CREDENTIALS');
    expect((await login(password)).status).toBe(200);
  });

  it('bounds sign-ups per address: 3 of 8 parallel sign-ups from one address, then 429', async () => {
    const address = from(newAddress());
    const names = Array.from({ length: 8 }, () => unique('signup'));
    const replies = await Promise.all(
      names.map((username) =>
        address('POST', '/api/auth/register', { body: { username, password: 'password123' } }),
      ),
    );
    expect(countStatuses(replies)).toEqual({ 201: 3, 429: 5 });
    for (const r of replies.filter((r) => r.status === 429)) expectTooMany(r, 'signup-address');
    // A refused sign-up wrote nothing: no uniqueness guard holds its name.
    const refused = names.filter((_, i) => replies[i]!.status === 429);
    for (const username of refused) {
      const guard = await store.doc.send(
        new GetCommand({
          TableName: 'users',
          Key: { pk: `USERNAME#${username.toLowerCase()}` },
          ConsistentRead: true,
        }),
      );
      expect(guard.Item, username).toBeUndefined();
    }
  });
});

describe('API3 broken object property level authorization', () => {
  it.each([
    ['role', { role: 'admin' }],
    ['is_admin', { is_admin: true }],
    ['__proto__', JSON.parse('{"__proto__": {"role": "admin"}}')],
    ['constructor.prototype', { constructor: { prototype: { role: 'admin' } } }],
  ])('never makes an admin of a sign-up carrying %s', async (_field, extra) => {
    const username = unique('sneaky');
    // Sent as raw JSON text, so `__proto__` travels as an own key, as an attacker would send it.
    const raw = `{"username":"${username}","password":"password123",${JSON.stringify(extra).slice(1)}`;
    const reply = await from(newAddress())('POST', '/api/auth/register', { body: JSON.parse(raw) });
    expect(reply.status).toBe(201);
    expect(reply.body).toEqual({ id: expect.any(Number), username, created_at: expect.any(String) });
    const row = await userRow(reply.body.id);
    expect(row?.role).toBe('user');
    expect(row).not.toHaveProperty('is_admin');
    const login = await from(newAddress())('POST', '/api/auth/login', {
      body: { username, password: 'password123' },
    });
    const me = await api.request('GET', '/api/auth/me', { token: login.body.access_token });
    expect(me.body.role).toBe('user');
    expect(JSON.stringify(me.body)).not.toContain('password');
    // And the admin routes agree.
    const create = await api.request('POST', '/api/products', {
      token: login.body.access_token,
      body: { name: unique('p'), price: 1, stock: 1 },
    });
    expect(create.status).toBe(403);
  });
});

describe('API4 unrestricted resource consumption', () => {
  it('keeps exactly 2 of 10 parallel purchases of one user in flight; the other 8 are 429 at once', async () => {
    const products = await Promise.all(
      Array.from({ length: 10 }, () => api.product(5, { strategy: 'lock' })),
    );
    // Someone else holds every product's lock, so admitted purchases wait in line.
    await Promise.all(products.map((p) => store.redis.set(`lock:{${p.id}}`, 'held-by-test', 'PX', 60_000)));
    const buyer = await quickUser('hoarder');
    const answered: Reply[] = [];
    const pending = products.map((p) =>
      api
        .request('POST', '/api/purchases', { token: buyer.token, body: { product_id: p.id, quantity: 1 } })
        .then((reply) => {
          answered.push(reply);
          return reply;
        }),
    );
    const waiting = async () => {
      const lines = await Promise.all(products.map((p) => store.redis.zcard(`lockq:{${p.id}}`)));
      return lines.reduce((a, b) => a + b, 0);
    };
    // While the locks are held: eight answers, all 429 (two slots were taken, so the others were
    // refused at once), and never more than two purchases standing in the lines.
    await until('eight answers', () => answered.length >= 8);
    expect(answered.slice(0, 8).every((r) => r.status === 429)).toBe(true);
    for (const r of answered.slice(0, 8)) expectTooMany(r, 'purchases-in-flight');
    expect(await waiting()).toBeLessThanOrEqual(2);
    await Promise.all(products.map((p) => store.redis.del(`lock:{${p.id}}`)));
    const replies = await Promise.all(pending);
    // The two admitted purchases buy once the locks are free (or, on a machine so slow that their
    // wait outlived the invocation's deadline, give up with 409); none of the eight took anything.
    expect(countStatuses(replies)[429]).toBe(8);
    const admitted = replies.filter((r) => r.status !== 429);
    expect(admitted).toHaveLength(2);
    for (const r of admitted) expect([200, 409]).toContain(r.status);
    const bought = admitted.filter((r) => r.status === 200).length;
    // Only the two admitted purchases took stock.
    const sold = await Promise.all(products.map((p) => store.purchases.unitsSold(p.id)));
    expect(sold.reduce((a, b) => a + b, 0)).toBe(bought);
    // Both slots are free again.
    const again = await api.request('POST', '/api/purchases', {
      token: buyer.token,
      body: { product_id: products[0]!.id, quantity: 1 },
    });
    expect(again.status).toBe(200);
  });

  it('refuses a body over the size limit with 413 before reading a token, and an id past 10^15 with 422', async () => {
    const before = await productCounter();
    const big = await api.request('POST', '/api/products', {
      token: admin,
      body: { name: 'x', description: 'y'.repeat(20_000), price: 1, stock: 1 },
    });
    expect(big.status).toBe(413);
    const buyer = await quickUser();
    const huge = await api.request('POST', '/api/purchases', {
      token: buyer.token,
      body: { product_id: 10 ** 16, quantity: 1 },
    });
    expect(huge.status).toBe(422);
    expect(JSON.stringify(huge.body.errors)).toContain('body.product_id');
    const cart = await api.request('POST', '/api/purchases', {
      token: buyer.token,
      body: { items: [{ product_id: Number.MAX_SAFE_INTEGER + 2, quantity: 1 }] },
    });
    expect(cart.status).toBe(422);
    expect(await productCounter()).toBe(before);
  });

  it('lists products to 20 parallel callers with one Scan of the table, not twenty', async () => {
    await api.product(1); // drops this container's copy of the catalogue
    const doc = await documentClient.get();
    let scans = 0;
    const counter = 'count-scans';
    doc.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'ScanCommand') scans += 1;
        return next(args);
      },
      { step: 'initialize', name: counter },
    );
    try {
      const buyer = await quickUser();
      const replies = await Promise.all(
        Array.from({ length: 20 }, () => api.request('GET', '/api/products?limit=5', { token: buyer.token })),
      );
      expect(countStatuses(replies)).toEqual({ 200: 20 });
      expect(scans).toBe(1);
    } finally {
      doc.middlewareStack.remove(counter);
    }
  });

  it('spreads sign-up ids over the sequence shards (no single hot counter item)', async () => {
    const accounts = (await services()).accounts;
    const made = await Promise.all(
      Array.from({ length: 40 }, () =>
        accounts.register({ username: unique('shard'), password: 'password123' }),
      ),
    );
    const shards = new Set(made.map((u) => u.id % SEQUENCE_SHARDS));
    expect(new Set(made.map((u) => u.id)).size).toBe(40);
    expect(shards.size).toBeGreaterThan(4);
  });
});

describe('API5 broken function level authorization', () => {
  it("refuses a user's token on an admin route with 403 and creates nothing", async () => {
    const user = await quickUser();
    const before = await productCounter();
    const reply = await api.request('POST', '/api/products', {
      token: user.token,
      body: { name: unique('p'), price: 1, stock: 1 },
    });
    expect(reply.status).toBe(403);
    expect(reply.body.code).toBe('FORBIDDEN');
    expect(await productCounter()).toBe(before);
  });

  it('takes admin access from a demoted admin at the next request, not at token expiry', async () => {
    const username = unique('boss');
    const accounts = (await services()).accounts;
    const { user } = await accounts.upsertAdmin(username, 'boss-password-1');
    const login = await from(newAddress())('POST', '/api/auth/login', {
      body: { username, password: 'boss-password-1' },
    });
    const token = login.body.access_token as string;
    const body = () => ({ name: unique('p'), price: 1, stock: 1 });
    expect((await api.request('POST', '/api/products', { token, body: body() })).status).toBe(201);

    await accounts.changeRole(user.id, 'user');
    const before = await productCounter();
    const after = await api.request('POST', '/api/products', { token, body: body() });
    expect(after.status).toBe(401);
    expect(await productCounter()).toBe(before);

    // Promoted again, the old token still does not work as admin: its version is gone for good.
    await accounts.changeRole(user.id, 'admin');
    expect((await api.request('POST', '/api/products', { token, body: body() })).status).toBe(401);
    expect(await productCounter()).toBe(before);
  });

  it('refuses the documentation example password for an admin', async () => {
    const accounts = (await services()).accounts;
    await expect(accounts.upsertAdmin(unique('admin'), 'change-me-please')).rejects.toThrow(/example/);
    await expect(accounts.upsertAdmin(unique('admin'), 'short')).rejects.toThrow(/at least 8 bytes/);
  });
});

describe('API6 unrestricted access to sensitive business flows', () => {
  it("gives one user one place in a product's lock line: 1 of 5 parallel purchases waits, 4 are 429", async () => {
    const product = await api.product(5, { strategy: 'lock' });
    await store.redis.set(`lock:{${product.id}}`, 'held-by-test', 'PX', 60_000);
    const buyer = await quickUser('queue-jumper');
    const answered: Reply[] = [];
    const pending = Array.from({ length: 5 }, () =>
      api
        .request('POST', '/api/purchases', {
          token: buyer.token,
          body: { product_id: product.id, quantity: 1 },
        })
        .then((reply) => {
          answered.push(reply);
          return reply;
        }),
    );
    await until('four refusals', () => answered.length >= 4);
    for (const r of answered.slice(0, 4)) expectTooMany(r, r.body.limit);
    expect(await store.redis.zcard(`lockq:{${product.id}}`)).toBeLessThanOrEqual(1);
    await store.redis.del(`lock:{${product.id}}`);
    const replies = await Promise.all(pending);
    expect(countStatuses(replies)[429]).toBe(4);
    const limits = replies.filter((r) => r.status === 429).map((r) => r.body.limit);
    expect(limits).toContain('lock-line');
    // The one in line buys once the lock is free (409 only if its wait outlived the invocation).
    const waited = replies.find((r) => r.status !== 429);
    expect([200, 409]).toContain(waited?.status);
    expect(await store.purchases.unitsSold(product.id)).toBe(waited?.status === 200 ? 1 : 0);
  });

  it('caps a hot deal started without max_per_user at the configured default (1)', async () => {
    const product = await api.product(50);
    const started = await api.request('POST', `/api/products/${product.id}/hotdeal/start`, {
      token: admin,
      body: {},
    });
    expect(started.status).toBe(200);
    const buyer = await quickUser('dealer');
    const replies = await Promise.all(
      Array.from({ length: 10 }, () =>
        api.request('POST', '/api/orders', {
          token: buyer.token,
          body: { product_id: product.id, quantity: 1 },
        }),
      ),
    );
    expect(countStatuses(replies)).toEqual({ 202: 1, 409: 9 });
    for (const r of replies.filter((r) => r.status === 409)) expect(r.body.code).toBe('PURCHASE_LIMIT');
  });
});

describe('API7 server side request forgery', () => {
  it('takes no address from a client: a URL in a body is stored as text and nothing connects to it', async () => {
    const connect = vi.spyOn(net.Socket.prototype, 'connect');
    try {
      const reply = await api.request('POST', '/api/products', {
        token: admin,
        body: {
          name: unique('ssrf'),
          description: 'http://169.254.169.254/latest/meta-data/',
          price: 1,
          stock: 1,
        },
      });
      expect(reply.status).toBe(201);
      expect(reply.body.description).toBe('http://169.254.169.254/latest/meta-data/');
      const targets = connect.mock.calls.map((call) => JSON.stringify(call[0]));
      expect(targets.filter((t) => t.includes('169.254'))).toEqual([]);
    } finally {
      connect.mockRestore();
    }
  });
});

describe('API8 security misconfiguration', () => {
  it.each([
    ['GET', '/api/health', 200],
    ['GET', '/api/auth/me', 401],
    ['GET', '/api/nowhere', 404],
    ['DELETE', '/api/auth/login', 405],
    ['POST', '/api/auth/register', 422],
  ])('%s %s (%i) carries nosniff and a CSP that forbids framing', async (method, path, status) => {
    const reply = await api.request(method, path, method === 'POST' ? { body: {} } : {});
    expect(reply.status).toBe(status);
    expect(reply.headers.get('x-content-type-options')).toBe('nosniff');
    expect(reply.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(reply.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers CORS only for an origin on the allowlist', async () => {
    const allowed = await api.request('GET', '/api/health', { headers: { origin: 'https://shop.example' } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://shop.example');
    expect(allowed.headers.get('vary')).toContain('origin');
    const other = await api.request('GET', '/api/health', { headers: { origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();

    const preflight = (origin: string) =>
      api.request('OPTIONS', '/api/purchases', {
        headers: { origin, 'access-control-request-method': 'POST' },
      });
    const ok = await preflight('https://shop.example');
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-methods')).toContain('POST');
    const refused = await preflight('https://evil.example');
    expect(refused.status).toBe(405);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('API9 improper inventory management', () => {
  it('answers only the routes of the route table: an old version or an undeclared admin path is 404', async () => {
    for (const path of ['/api/v1/products', '/api/admin/users', '/api/debug', '/api/products/1/secret']) {
      const reply = await api.request('GET', path, { token: admin });
      expect(reply.status, path).toBe(404);
      expect(reply.body).toEqual({ detail: 'Not found', code: 'NOT_FOUND' });
    }
  });
});

describe('API10 unsafe consumption of APIs', () => {
  it('does not trust the cache: a live count raised behind its back sells no unit DynamoDB lacks', async () => {
    const product = await api.product(1, { strategy: 'atomic' });
    await store.redis.hset(`stock:{${product.id}}`, 'available', '1000');
    const buyers = await Promise.all(Array.from({ length: 3 }, () => quickUser('cache')));
    const replies = await Promise.all(
      buyers.map((b) =>
        api.request('POST', '/api/purchases', {
          token: b.token,
          body: { product_id: product.id, quantity: 1 },
        }),
      ),
    );
    expect(countStatuses(replies)[200]).toBe(1);
    expect(replies.filter((r) => r.status !== 200).every((r) => r.status === 400)).toBe(true);
    expect((await store.products.get(product.id, true))?.stock).toBe(0);
    expect(await store.purchases.unitsSold(product.id)).toBe(1);
  });
});
