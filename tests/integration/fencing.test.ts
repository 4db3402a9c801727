/**
 * Fencing: a lock holder that was paused past its TTL must not write after a newer holder. The
 * product in DynamoDB keeps the highest fence a purchase carried, and the purchase's conditional
 * write (with its price condition) refuses a lower one. The pause is real: holder A's durable write
 * is held at a gate (its lock taken, its units held) until long after its lock expired.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StartedProcess, startRedisServer } from '../../bin/local/processes.ts';
import {
  type DistributedLock,
  LockLostError,
  lockFenceKey,
  RedisLock,
  RedisLockNode,
  Redlock,
} from '../../shared/lock/index.ts';
import type { PurchaseRecord } from '../../shared/model.ts';
import { createLockNode, whenReady } from '../../shared/redis.ts';
import { purchaseIdFor, stockKey } from '../../shared/stock/index.ts';
import { dynamo, gateOperations, stack } from '../support/services.ts';
import { until } from '../support/wait.ts';

const TTL_MS = 300;
const lockOptions = { ttlMs: TTL_MS, waitBudgetMs: 20_000 };

const healthy = stack();
let servers: StartedProcess[] = [];
let nodes: Redis[] = [];

beforeAll(async () => {
  servers = await Promise.all(Array.from({ length: 5 }, () => startRedisServer()));
  nodes = servers.map((s) => createLockNode({ host: '127.0.0.1', port: s.port }));
  await Promise.all(nodes.map((n) => whenReady(n, 5_000)));
});

afterAll(async () => {
  for (const n of nodes) n.disconnect();
  await Promise.all(servers.map((s) => s.stop()));
  await healthy.redis.quit();
});

const kinds: [string, () => DistributedLock][] = [
  ['the single-node lock', () => new RedisLock(healthy.redis)],
  ['Redlock over 5 nodes', () => new Redlock(nodes.map((n) => new RedisLockNode(n)))],
];

async function ledger(productId: number) {
  const [live, holds, durable] = await Promise.all([
    healthy.stock.peek(productId),
    healthy.stock.holds(productId),
    healthy.products.get(productId, true),
  ]);
  return {
    available: live?.available,
    holds: holds.length,
    stock: durable?.stock,
    fence: durable?.lock_fence,
  };
}

describe.each(kinds)('a holder paused past its TTL (%s)', (_, newLock) => {
  it('cannot write after a newer holder: its write is refused, its hold released, the buyer told 409', async () => {
    const product = await healthy.catalog.create({
      name: `p-${ulid()}`,
      price: 100,
      stock: 5,
      strategy: 'lock',
    });
    const pausedDoc = dynamo();
    const gate = gateOperations(pausedDoc, ['TransactWriteItemsCommand']);
    const paused = stack({ redis: healthy.redis, doc: pausedDoc, locks: newLock(), lockOptions });
    const newer = stack({ redis: healthy.redis, locks: newLock(), lockOptions });
    const key = `paused-${ulid()}`;

    const first = paused.purchaseService
      .purchase({ userId: 1, items: [{ productId: product.id, quantity: 2 }], idempotencyKey: key })
      .catch((e: unknown) => e);
    await until('the paused holder reaching its durable write', () => gate.arrived === 1);
    // Holder A holds the lock and 2 units, and stops. Its lock runs out.
    expect(await ledger(product.id)).toMatchObject({ available: 3, holds: 1, stock: 5 });
    await sleep(TTL_MS * 2);

    const second = (await newer.purchaseService.purchase({
      userId: 2,
      items: [{ productId: product.id, quantity: 1 }],
    })) as PurchaseRecord;
    const afterNewer = await ledger(product.id);
    expect(afterNewer).toMatchObject({ available: 2, holds: 1, stock: 4 });
    expect(afterNewer.fence).toBeGreaterThan(1);

    gate.open();
    const refused = await first;
    expect(refused).toBeInstanceOf(LockLostError);
    expect((refused as LockLostError).fence).toBeLessThan(afterNewer.fence as number);
    expect((refused as LockLostError).storedFence).toBe(afterNewer.fence);
    // No durable write, the hold given back: 5 = 4 available + 0 held + 1 sold.
    expect(await healthy.purchases.get(purchaseIdFor(1, key))).toBeNull();
    expect(await healthy.purchases.get(second.id)).not.toBeNull();
    expect(await ledger(product.id)).toEqual({ available: 4, holds: 0, stock: 4, fence: afterNewer.fence });

    // The refused buyer may try again with the same key, and buys under a new grant.
    const retried = await newer.purchaseService.purchase({
      userId: 1,
      items: [{ productId: product.id, quantity: 2 }],
      idempotencyKey: key,
    });
    expect(retried.id).toBe(purchaseIdFor(1, key));
    expect(await ledger(product.id)).toMatchObject({ available: 2, holds: 0, stock: 2 });
  });

  it('recovers when the lock lost its fence counter: one refusal, then the counter is above DynamoDB’s', async () => {
    const locks = newLock();
    const services = stack({ redis: healthy.redis, locks, lockOptions });
    const product = await services.catalog.create({
      name: `p-${ulid()}`,
      price: 100,
      stock: 5,
      strategy: 'lock',
    });
    await services.purchaseService.purchase({ userId: 1, items: [{ productId: product.id, quantity: 1 }] });
    await services.purchaseService.purchase({ userId: 1, items: [{ productId: product.id, quantity: 1 }] });
    const recorded = (await ledger(product.id)).fence as number;
    // The counters are gone (a flush, a replaced node) while DynamoDB keeps the fence it saw.
    await Promise.all([healthy.redis, ...nodes].map((r) => r.del(lockFenceKey(String(product.id)))));

    const refused = await services.purchaseService
      .purchase({ userId: 2, items: [{ productId: product.id, quantity: 1 }] })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(LockLostError);
    await services.purchaseService.purchase({ userId: 2, items: [{ productId: product.id, quantity: 1 }] });
    const after = await ledger(product.id);
    expect(after).toMatchObject({ available: 2, holds: 0, stock: 2 });
    expect(after.fence).toBeGreaterThan(recorded);
  });

  it('starts the counter above DynamoDB’s fence when a purchase restores a product Redis lost', async () => {
    const locks = newLock();
    const services = stack({ redis: healthy.redis, locks, lockOptions });
    const product = await services.catalog.create({
      name: `p-${ulid()}`,
      price: 100,
      stock: 5,
      strategy: 'lock',
    });
    await services.purchaseService.purchase({ userId: 1, items: [{ productId: product.id, quantity: 1 }] });
    await Promise.all([healthy.redis, ...nodes].map((r) => r.del(lockFenceKey(String(product.id)))));
    await healthy.redis.del(stockKey(product.id));

    await services.purchaseService.purchase({ userId: 2, items: [{ productId: product.id, quantity: 1 }] });
    expect(await ledger(product.id)).toMatchObject({ available: 3, holds: 0, stock: 3 });
  });
});

describe('the durable write’s fence condition', () => {
  const purchaseOf = (productId: number, price: number): PurchaseRecord => ({
    id: `fence-${ulid()}`,
    user_id: 1,
    items: [{ product_id: productId, quantity: 1, unit_price: price, total_price: price }],
    lines: [{ product_id: productId, quantity: 1 }],
    total_price: price,
    purchased_at: new Date().toISOString(),
  });

  it('takes a fence equal to or above the stored one, refuses a lower one, and says so before a price change', async () => {
    const product = await healthy.catalog.create({
      name: `p-${ulid()}`,
      price: 100,
      stock: 5,
      strategy: 'lock',
    });
    const record = (fence: number, price = 100) =>
      healthy.purchases.record(purchaseOf(product.id, price), new Map([[product.id, fence]]));
    expect(await record(10)).toEqual({ status: 'recorded' });
    expect(await record(10)).toEqual({ status: 'recorded' });
    expect(await record(9)).toEqual({
      status: 'fenced',
      fences: [{ productId: product.id, fence: 9, stored: 10 }],
    });
    // A stale price and a stale fence: the lost lock is the answer (the holder should not write at all).
    expect(await record(9, 99)).toMatchObject({ status: 'fenced' });
    expect(await record(11, 99)).toMatchObject({ status: 'price-changed' });
    expect(await record(12)).toEqual({ status: 'recorded' });
    expect(await healthy.products.get(product.id, true)).toMatchObject({ stock: 2, lock_fence: 12 });
  });

  it('leaves a write without a fence (the atomic strategy) unconditional on it', async () => {
    const product = await healthy.catalog.create({
      name: `p-${ulid()}`,
      price: 100,
      stock: 5,
      strategy: 'atomic',
    });
    await healthy.purchases.record(purchaseOf(product.id, 100), new Map([[product.id, 50]]));
    expect(await healthy.purchases.record(purchaseOf(product.id, 100))).toEqual({ status: 'recorded' });
    expect(await healthy.products.get(product.id, true)).toMatchObject({ stock: 3, lock_fence: 50 });
  });
});
