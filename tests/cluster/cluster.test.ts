/**
 * The service on a real Redis Cluster (three primaries with a replica each, started by
 * tests/support/global-setup-cluster.ts): every command and script single-slot, so a sale, a cart
 * across slots, a hot deal, the reconciler and the audit work as on one Redis; and a primary killed
 * mid-sale leaves the ledger exact once its replica took over. The whole integration suites run on
 * the cluster with `npm run test:cluster`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  lockFenceKey,
  lockKey,
  lockQueueKey,
  lockWakeKey,
  RedisLock,
  withLock,
} from '../../shared/lock/index.ts';
import { holdsKey, stockKey } from '../../shared/stock/index.ts';
import { countStatuses, type Reply, startTestApi, type TestApi } from '../support/api.ts';
import { services } from '../support/app.ts';
import { flushAll } from '../support/services.ts';
import { until } from '../support/wait.ts';

let api: TestApi;
let admin: string;
const buyers: { id: number; token: string }[] = [];

beforeAll(async () => {
  expect(process.env.REDIS_CLUSTER_NODES).toBe(inject('redisClusterNodes'));
  api = await startTestApi();
  admin = await api.admin();
  for (let i = 0; i < 60; i += 30)
    buyers.push(...(await Promise.all(Array.from({ length: 30 }, () => api.user('c')))));
}, 120_000);
afterAll(() => api.close());

const buy = (token: string, body: unknown) => api.request('POST', '/api/purchases', { token, body });

async function audit(productId: number) {
  const { reconciler } = await services();
  return (await reconciler.verify()).products.find((p) => p.product_id === productId);
}

describe('on a 3-primary, 3-replica Redis Cluster', () => {
  it('keeps every key of a product in one slot, lock and fence included', async () => {
    const { redis } = await services();
    expect(redis.isCluster).toBe(true);
    const keys = [
      stockKey(42, 'fs:s1:'),
      holdsKey(42, 'fs:s1:'),
      lockKey('42', 'fs:s1:'),
      lockQueueKey('42', 'fs:s1:'),
      lockFenceKey('42', 'fs:s1:'),
      lockWakeKey('42', 'some-waiter-token', 'fs:s1:'),
    ];
    const slots = await Promise.all(keys.map((k) => redis.cluster('KEYSLOT', k)));
    expect(new Set(slots).size).toBe(1);
  });

  it('hands a lock to 20 waiters in arrival order, each woken on its blocking cluster connection', async () => {
    const { redis } = await services();
    const locks = new RedisLock(redis, { waitBudgetMs: 60_000, maxRetryDelayMs: 1_000 });
    const resource = `cluster-fifo-${Date.now()}`;
    const holder = await locks.acquire(resource, { ttlMs: 60_000 });
    const order: number[] = [];
    const attempts: number[] = [];
    const waiters: Promise<unknown>[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        waiters.push(
          withLock(locks, resource, async (lock) => {
            order.push(i);
            attempts.push(lock.attempts);
          }),
        );
        await until(`waiter ${i} in line`, async () => (await redis.zcard(lockQueueKey(resource))) === i + 1);
      }
      await locks.release(holder);
      await Promise.all(waiters);
    } finally {
      locks.close();
    }
    expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i));
    // One ask to join, one when woken: nobody polled, nobody waited out a timeout.
    expect(attempts.filter((n) => n !== 2)).toEqual([]);
  });

  it.each(['lock', 'atomic'] as const)('sells exactly 10 units to 30 buyers (%s)', async (strategy) => {
    const product = await api.product(10, { strategy });
    const replies = await Promise.all(
      buyers.slice(0, 30).map((b) => buy(b.token, { product_id: product.id, quantity: 1 })),
    );
    expect(countStatuses(replies)).toEqual({ 200: 10, 400: 20 });
    expect(await audit(product.id)).toMatchObject({ ok: true, db_stock: 0, redis_stock: 0, sold: 10 });
  });

  it('sells carts across slots exactly, and refuses a cart with one short line whole', async () => {
    const products = await Promise.all([
      api.product(5),
      api.product(5, { strategy: 'atomic' }),
      api.product(1),
    ]);
    const cart = { items: products.map((p) => ({ product_id: p.id, quantity: 1 })) };
    const replies = await Promise.all(buyers.slice(0, 12).map((b) => buy(b.token, cart)));
    // The third product has one unit: one cart, and every other cart refused whole.
    expect(countStatuses(replies)).toEqual({ 200: 1, 400: 11 });
    for (const [i, p] of products.entries()) {
      expect(await audit(p.id)).toMatchObject({ ok: true, db_stock: [4, 4, 0][i], held: 0 });
    }
  });

  it('sells a bundle and its components from different slots, all or nothing', async () => {
    const [a, b] = await Promise.all([api.product(6), api.product(3, { strategy: 'atomic' })]);
    const bundle = await api.request('POST', '/api/products', {
      token: admin,
      body: {
        name: 'set',
        price: 500,
        stock: 10,
        components: [
          { product_id: a.id, quantity: 1 },
          { product_id: b.id, quantity: 1 },
        ],
      },
    });
    expect(bundle.status).toBe(201);
    const replies = await Promise.all(
      buyers.slice(0, 8).map((u) => buy(u.token, { product_id: bundle.body.id, quantity: 1 })),
    );
    expect(countStatuses(replies)).toEqual({ 200: 3, 400: 5 });
    expect(await audit(a.id)).toMatchObject({ ok: true, db_stock: 3 });
    expect(await audit(b.id)).toMatchObject({ ok: true, db_stock: 0 });
  });

  it('admits exactly the stock of a hot deal among 20 orders', async () => {
    const product = await api.product(5, { price: 1500 });
    const started = await api.request('POST', `/api/products/${product.id}/hotdeal/start`, {
      token: admin,
      body: {},
    });
    expect(started.status).toBe(200);
    const replies = await Promise.all(
      buyers.slice(0, 20).map((u) =>
        api.request('POST', '/api/orders', {
          token: u.token,
          body: { product_id: product.id, quantity: 1 },
        }),
      ),
    );
    expect(countStatuses(replies)).toEqual({ 202: 5, 400: 15 });
    expect(await audit(product.id)).toMatchObject({ ok: true, reserved: 5 });
  });

  it('restores everything the cluster lost with the reconciler, and the audit agrees', async () => {
    const product = await api.product(8);
    await buy(buyers[0]!.token, { product_id: product.id, quantity: 3 });
    const { redis, reconciler } = await services();
    await flushAll(redis);
    const summary = await reconciler.reconcileAll();
    expect(summary.restored).toBeGreaterThan(0);
    expect(summary.failed).toBe(0);
    const verified = await reconciler.verify();
    expect(verified.consistent).toBe(true);
    expect(verified.products.find((p) => p.product_id === product.id)).toMatchObject({
      redis_stock: 5,
      db_stock: 5,
    });
  });
});

/** The primary that serves `key`'s slot, as the cluster says right now. */
async function primaryOf(key: string): Promise<number> {
  const { redis } = await services();
  const slot = Number(await redis.cluster('KEYSLOT', key));
  const ranges = (await redis.cluster('SLOTS')) as unknown as [number, number, [string, number]][];
  const range = ranges.find(([from, to]) => slot >= from && slot <= to);
  if (!range) throw new Error(`no primary for slot ${slot}`);
  return range[2][1];
}

describe('a primary killed mid-sale', () => {
  it('never oversells, every 200 is durable, and the ledger is exact after its replica took over', async () => {
    // One lock product (its lock, fence and stock on the primary that dies) and one atomic product.
    const [locked, atomic] = await Promise.all([api.product(20), api.product(20, { strategy: 'atomic' })]);
    const port = await primaryOf(stockKey(locked.id));
    const victim = new Redis(port, '127.0.0.1');
    const pid = Number(/process_id:(\d+)/.exec(await victim.info('server'))?.[1]);
    victim.disconnect();
    const replies = new Map<number, Reply[]>([
      [locked.id, []],
      [atomic.id, []],
    ]);
    const sale = Promise.all(
      buyers.slice(0, 50).flatMap((u, i) =>
        [locked.id, atomic.id].map(async (productId) => {
          await sleep(i * 4);
          replies.get(productId)?.push(await buy(u.token, { product_id: productId, quantity: 1 }));
        }),
      ),
    );
    await until('the sale under way', () => (replies.get(locked.id)?.length ?? 0) >= 5);
    // The primary's process is killed (SIGKILL, no goodbye); its replica takes over after the node timeout.
    process.kill(pid, 'SIGKILL');
    await sale;

    await until(
      'a replica promoted',
      async () => (await primaryOf(stockKey(locked.id)).catch(() => port)) !== port,
      30_000,
    );
    const { reconciler, purchaseHistory } = await services();
    // Holds are settled by their own requests; the pass restores what the lost primary had not
    // replicated and sets Redis to DynamoDB's count.
    await until(
      'a clean reconciliation pass',
      async () =>
        reconciler
          .reconcileAll()
          .then((s) => s.failed === 0)
          .catch(() => false),
      30_000,
    );
    for (const [productId, answers] of replies) {
      const statuses = countStatuses(answers);
      const sold = statuses[200] ?? 0;
      // A request that met the dead primary is told to retry (503) or that the lock was busy (409).
      expect(Object.keys(statuses).filter((s) => !['200', '400', '409', '503'].includes(s))).toEqual([]);
      expect(sold).toBeLessThanOrEqual(20);
      expect(await purchaseHistory.unitsSold(productId)).toBe(sold);
      expect(await audit(productId)).toMatchObject({
        ok: true,
        db_stock: 20 - sold,
        redis_stock: 20 - sold,
        sold,
        held: 0,
      });
    }
  });
});
