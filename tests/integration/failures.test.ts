import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../bin/local/processes.ts';
import { DependencyUnavailableError, HealthCheck } from '../../shared/health.ts';
import { RedisLock } from '../../shared/lock/index.ts';
import { createRedis } from '../../shared/redis.ts';
import {
  InsufficientStockError,
  PurchaseNotRecordedError,
  PurchaseOutcomeUnknownError,
  StockUnavailableError,
} from '../../shared/stock/index.ts';
import { countStatuses, startTestApi, type TestApi } from '../support/api.ts';
import { breakOperations, dynamo, quietLog, stack } from '../support/services.ts';

const healthy = stack();
afterAll(() => healthy.redis.quit());

async function newProduct(stock: number, strategy: 'lock' | 'atomic' = 'lock') {
  return healthy.catalog.create({ name: `p-${ulid()}`, price: 100, stock, strategy });
}

async function state(productId: number) {
  const [live, holds, durable] = await Promise.all([
    healthy.stock.peek(productId),
    healthy.stock.holds(productId),
    healthy.products.get(productId, true),
  ]);
  return { redis: live?.available, holds: holds.length, db: durable?.stock };
}

describe.each(['lock', 'atomic'] as const)('a failed durable write (%s)', (strategy) => {
  it('puts the Redis stock back, records nothing and says so cleanly', async () => {
    const product = await newProduct(5, strategy);
    const doc = dynamo();
    breakOperations(doc, ['TransactWriteItemsCommand']);
    const broken = stack({ redis: healthy.redis, doc });
    const error = await broken.purchaseService
      .purchase({ userId: 1, items: [{ productId: product.id, quantity: 2 }], idempotencyKey: `k-${ulid()}` })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PurchaseNotRecordedError);
    const id = (error as PurchaseNotRecordedError).purchaseId;
    expect(await healthy.purchases.get(id)).toBeNull();
    expect(await state(product.id)).toEqual({ redis: 5, holds: 0, db: 5 });
  });

  it('leaves the hold to the reconciler when even the outcome cannot be read, which then releases it', async () => {
    const product = await newProduct(5, strategy);
    const doc = dynamo();
    breakOperations(doc, ['TransactWriteItemsCommand', 'GetItemCommand']);
    const broken = stack({ redis: healthy.redis, doc });
    const error = await broken.purchaseService
      .purchase({ userId: 1, items: [{ productId: product.id, quantity: 2 }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PurchaseOutcomeUnknownError);
    expect(await state(product.id)).toEqual({ redis: 3, holds: 1, db: 5 });

    const summary = await healthy.reconciler.reconcileProduct(
      (await healthy.products.get(product.id, true))!,
    );
    expect(summary).toMatchObject({ holdsReleased: 1, holdsCommitted: 0 });
    expect(await state(product.id)).toEqual({ redis: 5, holds: 0, db: 5 });
  });
});

describe('a request that crashed', () => {
  it('between the Redis decrement and the DynamoDB write: the reconciler releases the hold', async () => {
    const product = await newProduct(10);
    await healthy.stock.reserve(product.id, 3, ulid()); // ...and the Lambda died here
    expect(await state(product.id)).toEqual({ redis: 7, holds: 1, db: 10 });

    const young = stack({ redis: healthy.redis, holdStaleAfterMs: 60_000 });
    await young.reconciler.reconcileProduct(product);
    expect(await state(product.id)).toEqual({ redis: 7, holds: 1, db: 10 }); // not stale yet: maybe alive

    await healthy.reconciler.reconcileProduct(product);
    expect(await state(product.id)).toEqual({ redis: 10, holds: 0, db: 10 });
    expect((await healthy.reconciler.verify()).products.find((p) => p.product_id === product.id)?.ok).toBe(
      true,
    );
  });

  it('after the DynamoDB write: the reconciler commits the hold and nothing is sold twice', async () => {
    const product = await newProduct(10);
    const id = ulid();
    await healthy.stock.reserve(product.id, 4, id);
    await healthy.purchases.record({
      id,
      user_id: 1,
      items: [{ product_id: product.id, quantity: 4, unit_price: 100, total_price: 400 }],
      lines: [{ product_id: product.id, quantity: 4 }],
      total_price: 400,
      purchased_at: new Date().toISOString(),
    });
    // ...and the Lambda died before committing the hold.
    expect(await state(product.id)).toEqual({ redis: 6, holds: 1, db: 6 });

    const summary = await healthy.reconciler.reconcileProduct(product);
    expect(summary).toMatchObject({ holdsCommitted: 1, holdsReleased: 0, repaired: 0 });
    expect(await state(product.id)).toEqual({ redis: 6, holds: 0, db: 6 });
    const audit = (await healthy.reconciler.verify()).products.find((p) => p.product_id === product.id);
    expect(audit).toMatchObject({ sold: 4, db_stock: 6, redis_stock: 6, ok: true });
  });
});

describe('Redis losing its data mid-sale', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(() => api.close());

  it.each(['lock', 'atomic'] as const)(
    'is restored from DynamoDB and selling continues exactly (%s)',
    async (strategy) => {
      const product = await api.product(100, { strategy });
      const buyers = await Promise.all(Array.from({ length: 150 }, () => api.user('flush')));
      const buy = (token: string) =>
        api.request('POST', '/api/purchases', { token, body: { product_id: product.id, quantity: 1 } });

      const first = await Promise.all(buyers.slice(0, 30).map((b) => buy(b.token)));
      expect(countStatuses(first)).toEqual({ 200: 30 });

      // Flush while the next wave is in flight: their holds vanish with everything else.
      const wave = Promise.all(buyers.slice(30).map((b) => buy(b.token)));
      await healthy.redis.flushall();
      const rest = await wave;
      const restored = await healthy.reconciler.reconcileAll();
      expect(restored.products).toBeGreaterThan(0);

      const statuses = countStatuses([...first, ...rest]);
      expect(statuses[200]).toBe(100);
      expect(Object.keys(statuses).every((s) => s === '200' || s === '400')).toBe(true);
      const audit = (await healthy.reconciler.verify()).products.find((p) => p.product_id === product.id);
      expect(audit).toMatchObject({
        initial_stock: 100,
        sold: 100,
        db_stock: 0,
        redis_stock: 0,
        held: 0,
        ok: true,
      });
    },
  );
});

describe('a sold-out product', () => {
  it.each(['lock', 'atomic'] as const)(
    'is refused from Redis alone, without one DynamoDB call (%s)',
    async (strategy) => {
      const product = await newProduct(1, strategy);
      await healthy.purchaseService.purchase({ userId: 1, items: [{ productId: product.id, quantity: 1 }] });
      const doc = dynamo();
      breakOperations(doc, [
        'TransactWriteItemsCommand',
        'GetItemCommand',
        'QueryCommand',
        'ScanCommand',
        'UpdateItemCommand',
      ]);
      const noDynamo = stack({ redis: healthy.redis, doc });
      const error = await noDynamo.purchaseService
        .purchase({ userId: 2, items: [{ productId: product.id, quantity: 1 }] })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InsufficientStockError);
    },
  );

  it('is refused at once under the lock strategy, without waiting for a busy lock', async () => {
    const product = await newProduct(1, 'lock');
    await healthy.purchaseService.purchase({ userId: 1, items: [{ productId: product.id, quantity: 1 }] });
    const holder = await new RedisLock(healthy.redis).acquire(String(product.id), { ttlMs: 10_000 });
    const started = performance.now();
    const error = await healthy.purchaseService
      .purchase({ userId: 2, items: [{ productId: product.id, quantity: 1 }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InsufficientStockError);
    expect(performance.now() - started).toBeLessThan(1_000); // the wait budget is 5 s
    await new RedisLock(healthy.redis).release(holder);
  });

  it('stops lock waiters as soon as the stock runs out while they wait', async () => {
    const product = await newProduct(1, 'lock');
    const locks = new RedisLock(healthy.redis);
    const holder = await locks.acquire(String(product.id), { ttlMs: 10_000 });
    const waiting = healthy.purchaseService
      .purchase({ userId: 2, items: [{ productId: product.id, quantity: 1 }] })
      .catch((e: unknown) => e);
    // Someone else takes the last unit while the buyer waits for the lock.
    await healthy.stock.reserve(product.id, 1, ulid());
    const started = performance.now();
    expect(await waiting).toBeInstanceOf(InsufficientStockError);
    expect(performance.now() - started).toBeLessThan(1_000);
    await locks.release(holder);
  });
});

describe('Redis unavailable', () => {
  it('creates no product when its live stock cannot be written', async () => {
    const dead = createRedis(`redis://127.0.0.1:${await freePort()}`, {
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    dead.on('error', () => undefined);
    const broken = stack({ redis: dead });
    const error = await broken.catalog
      .create({ name: 'orphan', price: 1, stock: 5 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StockUnavailableError);
    expect(await healthy.products.get((error as StockUnavailableError).productId, true)).toBeNull();
    dead.disconnect();
  });

  it('makes the health check answer 503 naming Redis', async () => {
    const dead = createRedis(`redis://127.0.0.1:${await freePort()}`, {
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    dead.on('error', () => undefined);
    const error = await new HealthCheck(dead, healthy.products, 500).check().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as DependencyUnavailableError).report).toEqual({ redis: 'unavailable', dynamodb: 'ok' });
    dead.disconnect();
    void quietLog;
  });
});
