/**
 * One Redis, many stores: two local stores (each `npm start` with its own DynamoDB Local) on the
 * test redis-server, with overlapping product ids but different prices and stock. Live stock and
 * prices never come from the other store, and a store whose tables are recreated while Redis keeps
 * its keys sells correctly from its first request.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort, isListening, type StartedProcess, startDynamoDbLocal } from '../../bin/local/processes.ts';
import { newSigningKey } from '../../shared/auth/keys.ts';

const ADMIN = { ADMIN_USERNAME: 'store_admin', ADMIN_PASSWORD: 'store-admin-password-1' };

interface Store {
  url: string;
  output: string[];
  call(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

const started: StartedProcess[] = [];
const children: ChildProcess[] = [];

/** `npm start` as a user runs it: its own DynamoDB Local, the shared Redis, a fresh port. */
async function startStore(dynamo: StartedProcess): Promise<Store> {
  const port = await freePort();
  const output: string[] = [];
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/start.ts'], {
    env: {
      ...process.env,
      PORT: String(port),
      REDIS_URL: inject('redisUrl'),
      DYNAMODB_ENDPOINT: dynamo.url,
      STORE_ID: '',
      JWT_SIGNING_KEY: JSON.stringify(newSigningKey()),
      BCRYPT_COST: '4',
      RECONCILE_INTERVAL_MS: '0',
      LOG_LEVEL: 'ERROR',
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      ...ADMIN,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  // Raw chunks: a line may arrive in two of them, so the text is judged joined.
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const deadline = Date.now() + 60_000;
  while (!(await isListening(port))) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`store did not start:\n${output.join('')}`);
    await sleep(100);
  }
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    output,
    async call(method, path, body, token) {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : null };
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function login(store: Store, username: string, password: string): Promise<string> {
  const reply = await store.call('POST', '/api/auth/login', { username, password });
  if (reply.status !== 200) throw new Error(`login ${username}: ${reply.status}\n${store.output.join('')}`);
  return reply.body.access_token;
}

async function buyers(store: Store, count: number): Promise<string[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const username = `store_buyer_${i}`;
      const created = await store.call('POST', '/api/auth/register', { username, password: 'password123' });
      if (created.status !== 201)
        throw new Error(
          `register ${username}: ${created.status} ${JSON.stringify(created.body)}\n${store.output.join('')}`,
        );
      return login(store, username, 'password123');
    }),
  );
}

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await Promise.all(started.map((p) => p.stop()));
});

describe('two stores on one Redis', () => {
  let a: Store;
  let b: Store;
  let adminA: string;
  let adminB: string;

  beforeAll(async () => {
    const dynamos = await Promise.all([startDynamoDbLocal(), startDynamoDbLocal()]);
    started.push(...dynamos);
    a = await startStore(dynamos[0] as StartedProcess);
    b = await startStore(dynamos[1] as StartedProcess);
    [adminA, adminB] = await Promise.all([
      login(a, ADMIN.ADMIN_USERNAME, ADMIN.ADMIN_PASSWORD),
      login(b, ADMIN.ADMIN_USERNAME, ADMIN.ADMIN_PASSWORD),
    ]);
  }, 180_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('says at start-up that the Redis also holds another store', () => {
    expect(b.output.join('')).toMatch(/also holds stores? [0-9a-f]+/);
  });

  it('sells the same product ids at each store’s own price and stock, concurrently and exactly', async () => {
    const [pa, pb] = await Promise.all([
      a.call('POST', '/api/products', { name: 'A one', price: 1_000, stock: 10 }, adminA),
      b.call('POST', '/api/products', { name: 'B one', price: 2_500_000, stock: 25 }, adminB),
    ]);
    expect(pa.status).toBe(201);
    expect(pb.status).toBe(201);
    expect(pa.body.id).toBe(pb.body.id); // overlapping ids: each store's first product

    const [tokensA, tokensB] = await Promise.all([buyers(a, 30), buyers(b, 30)]);
    const buy = (store: Store, tokens: string[], id: number) =>
      Promise.all(
        tokens.map((t) => store.call('POST', '/api/purchases', { product_id: id, quantity: 1 }, t)),
      );
    const [repliesA, repliesB] = await Promise.all([
      buy(a, tokensA, pa.body.id),
      buy(b, tokensB, pb.body.id),
    ]);

    const statuses = (replies: { status: number; body: any }[]) =>
      replies.reduce<Record<string, number>>((counts, r) => {
        const key = r.status === 200 ? '200' : `${r.status} ${r.body?.code}`;
        counts[key] = (counts[key] ?? 0) + 1;
        return counts;
      }, {});
    expect(statuses(repliesA)).toEqual({ '200': 10, '400 INSUFFICIENT_STOCK': 20 });
    expect(statuses(repliesB)).toEqual({ '200': 25, '400 INSUFFICIENT_STOCK': 5 });
    for (const r of repliesA.filter((r) => r.status === 200)) expect(r.body.total_price).toBe(1_000);
    for (const r of repliesB.filter((r) => r.status === 200)) expect(r.body.total_price).toBe(2_500_000);

    for (const [store, admin] of [
      [a, adminA],
      [b, adminB],
    ] as const) {
      const audit = await store.call('GET', '/api/admin/inventory/verify', undefined, admin);
      expect(audit.status).toBe(200);
      expect(audit.body.products).toHaveLength(1);
      expect(audit.body.consistent).toBe(true);
    }
  });
});

describe('a store whose tables are recreated while Redis keeps the old keys', () => {
  it('sells its new product 1 from the first request at the new price', async () => {
    const redis = new Redis(inject('redisUrl'));
    try {
      // An older store's product 1, sold out at another price, as keys without a namespace too.
      await redis.hset('stock:{1}', 'available', 0, 'price', 1_000, 'strategy', 'lock', 'components', '[]');
      const first = await startDynamoDbLocal();
      started.push(first);
      const old = await startStore(first);
      const oldAdmin = await login(old, ADMIN.ADMIN_USERNAME, ADMIN.ADMIN_PASSWORD);
      const oldProduct = await old.call(
        'POST',
        '/api/products',
        { name: 'old', price: 1_000, stock: 1 },
        oldAdmin,
      );
      const [oldBuyer] = await buyers(old, 1);
      expect(
        (await old.call('POST', '/api/purchases', { product_id: oldProduct.body.id, quantity: 1 }, oldBuyer))
          .status,
      ).toBe(200);
      await old.stop();

      // The tables are recreated (a fresh, empty DynamoDB) while Redis keeps every key.
      const fresh = await startDynamoDbLocal();
      started.push(fresh);
      const store = await startStore(fresh);
      try {
        const admin = await login(store, ADMIN.ADMIN_USERNAME, ADMIN.ADMIN_PASSWORD);
        const product = await store.call(
          'POST',
          '/api/products',
          { name: 'new', price: 2_500_000, stock: 100 },
          admin,
        );
        expect(product.body.id).toBe(oldProduct.body.id);
        const [buyer] = await buyers(store, 1);
        const bought = await store.call(
          'POST',
          '/api/purchases',
          { product_id: product.body.id, quantity: 1 },
          buyer,
        );
        expect(bought.status).toBe(200);
        expect(bought.body.total_price).toBe(2_500_000);
        const stock = await store.call('GET', `/api/products/${product.body.id}/stock`, undefined, buyer);
        expect(stock.body).toEqual({
          product_id: product.body.id,
          db_stock: 99,
          redis_stock: 99,
          synced: true,
        });
      } finally {
        await store.stop();
      }
    } finally {
      redis.disconnect();
    }
  }, 180_000);
});
