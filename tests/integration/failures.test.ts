import { setTimeout as sleep } from 'node:timers/promises';
import { ulid } from 'ulid';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../bin/local/processes.ts';
import { DependencyUnavailableError, HealthCheck } from '../../shared/health.ts';
import {
  type DistributedLock,
  LockLostError,
  lockKey,
  lockQueueKey,
  RedisLock,
} from '../../shared/lock/index.ts';
import { createRedis } from '../../shared/redis.ts';
import {
  holdsKey,
  InsufficientStockError,
  PurchaseNotRecordedError,
  PurchaseOutcomeUnknownError,
  PurchaseService,
  StockUnavailableError,
  stockKey,
} from '../../shared/stock/index.ts';
import {
  breakOperations,
  dynamo,
  gateOperations,
  loseAnswers,
  quietLog,
  refusal,
  stack,
} from '../support/services.ts';
import { until } from '../support/wait.ts';

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
    breakOperations(doc, ['TransactWriteItemsCommand'], refusal);
    const broken = stack({ redis: healthy.redis, doc });
    const error = await broken.purchaseService
      .purchase({ userId: 1, items: [{ productId: product.id, quantity: 2 }], idempotencyKey: `k-${ulid()}` })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PurchaseNotRecordedError);
    const id = (error as PurchaseNotRecordedError).purchaseId;
    expect(await healthy.purchases.get(id)).toBeNull();
    expect(await state(product.id)).toEqual({ redis: 5, holds: 0, db: 5 });
  });

  it('finds the purchase in DynamoDB when the answer of an applied write was lost, and sells it once', async () => {
    const product = await newProduct(5, strategy);
    const doc = dynamo();
    loseAnswers(doc, ['TransactWriteItemsCommand']);
    const lost = stack({ redis: healthy.redis, doc });
    const purchase = await lost.purchaseService.purchase({
      userId: 1,
      items: [{ productId: product.id, quantity: 2 }],
    });
    expect(await healthy.purchases.get(purchase.id)).toEqual(purchase);
    expect(await state(product.id)).toEqual({ redis: 3, holds: 0, db: 3 });
    expect(await healthy.purchases.unitsSold(product.id)).toBe(2);
  });

  it('lets DynamoDB refuse a sale a drifted Redis allowed: INSUFFICIENT_STOCK, holds back, Redis lowered to what DynamoDB can sell, nothing recorded', async () => {
    const product = await newProduct(5, strategy);
    // Redis believes in 3 units DynamoDB does not have (restored ahead of writes in flight, say).
    await healthy.redis.hset(stockKey(product.id), 'available', 8);
    const error = await healthy.purchaseService
      .purchase({ userId: 1, items: [{ productId: product.id, quantity: 6 }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InsufficientStockError);
    expect((error as InsufficientStockError).shortages).toEqual([
      { productId: product.id, requested: 6, available: 0 },
    ]);
    expect(await state(product.id)).toEqual({ redis: 5, holds: 0, db: 5 });
    expect(await healthy.purchases.unitsSold(product.id)).toBe(0);
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
  it.each(['lock', 'atomic'] as const)(
    'is restored by the next purchase before the reconciler runs, and that purchase sells (%s)',
    async (strategy) => {
      const product = await newProduct(10, strategy);
      await healthy.purchaseService.purchase({ userId: 1, items: [{ productId: product.id, quantity: 2 }] });
      await healthy.redis.del(stockKey(product.id)); // Redis lost the product (failover, eviction)
      const purchase = await healthy.purchaseService.purchase({
        userId: 2,
        items: [{ productId: product.id, quantity: 3 }],
      });
      expect(await healthy.purchases.get(purchase.id)).toMatchObject(purchase);
      expect(await state(product.id)).toEqual({ redis: 5, holds: 0, db: 5 });
      expect(
        quietLog.lines.filter(
          (l) => l.message === 'live stock restored from DynamoDB' && l.fields.product_id === product.id,
        ),
      ).toHaveLength(1);
    },
  );

  it.each(['lock', 'atomic'] as const)(
    'is restored from DynamoDB while purchases are in flight, and selling continues exactly (%s)',
    async (strategy) => {
      const product = await newProduct(100, strategy);
      const resource = String(product.id);
      // The second wave's durable writes wait at a gate (SDK middleware on the document client its
      // service uses), so the flush lands while their Redis holds exist and their writes are unsent.
      const doc = dynamo();
      const gate = gateOperations(doc, ['TransactWriteItemsCommand']);
      // Lock waits as long as a loaded machine needs: the test is about counts, not about speed.
      const lockOptions = { ttlMs: 30_000, waitBudgetMs: 60_000 };
      const patient = stack({ redis: healthy.redis, lockOptions });
      const gated = stack({ redis: healthy.redis, doc, lockOptions });
      type Outcome = Awaited<ReturnType<typeof healthy.purchaseService.purchase>> | Error;
      const buy = (service: typeof healthy, userId: number): Promise<Outcome> =>
        service.purchaseService
          .purchase({ userId, items: [{ productId: product.id, quantity: 1 }] })
          .catch((e: Error) => e);

      const first = await Promise.all(Array.from({ length: 30 }, (_, i) => buy(patient, i + 1)));
      expect(first.filter((o) => o instanceof Error)).toEqual([]);

      const second = Promise.all(Array.from({ length: 40 }, (_, i) => buy(gated, 100 + i)));
      // atomic: all 40 hold a unit and wait at the gate; lock: one holds the lock and a unit and waits
      // at the gate, 39 stand in line for the lock (each has read the stock before the flush).
      const atGate = strategy === 'atomic' ? 40 : 1;
      const inLine = strategy === 'atomic' ? 0 : 39;
      await until(
        'the second wave in flight',
        async () => gate.arrived === atGate && (await healthy.redis.zcard(lockQueueKey(resource))) === inLine,
      );
      // What Redis held at the instant it lost everything: one MULTI, nothing runs in between.
      const atFlush = await healthy.redis
        .multi()
        .hlen(holdsKey(product.id))
        .zcard(lockQueueKey(resource))
        .flushall()
        .exec();
      expect(atFlush?.map(([error, value]) => error ?? value)).toEqual([atGate, inLine, 'OK']);

      // The scheduled reconciler runs before any of the second wave returns and puts the product back
      // from DynamoDB, which does not have the units in flight yet: Redis now counts them twice.
      const record = (await healthy.products.get(product.id, true))!;
      expect(record.stock).toBe(70);
      expect(await healthy.reconciler.reconcileProduct(record)).toMatchObject({ restored: 1 });
      gate.open();

      const third = await Promise.all(Array.from({ length: 100 }, (_, i) => buy(gated, 200 + i)));
      const outcomes = [...first, ...(await second), ...third];
      const sold = outcomes.filter((o): o is Exclude<Outcome, Error> => !(o instanceof Error));
      const refused = outcomes.filter((o) => o instanceof Error);

      // No oversell, and every unit is sold: DynamoDB refused what Redis counted twice. (Lock waiters
      // that retry between the flush and the restore are refused too: their stock check reads the
      // missing product as 0 available. A waiter granted the lock in that gap took its fence from a
      // counter the flush reset, so DynamoDB refuses its write as from a lost lock (409, to retry)
      // and the counter is advanced past DynamoDB's fence. The third wave buys what they left.)
      expect(sold).toHaveLength(100);
      for (const error of refused)
        expect(
          error instanceof InsufficientStockError || (strategy === 'lock' && error instanceof LockLostError),
          String(error),
        ).toBe(true);
      expect(new Set(sold.map((p) => p.id)).size).toBe(100);
      // Every sale the buyer was told about is durable.
      const durable = await Promise.all(sold.map((p) => healthy.purchases.get(p.id)));
      expect(durable.map((p) => p?.id)).toEqual(sold.map((p) => p.id));

      await healthy.reconciler.reconcileProduct((await healthy.products.get(product.id, true))!);
      const audit = (await healthy.reconciler.verify()).products.find((p) => p.product_id === product.id);
      expect(audit).toMatchObject({
        initial_stock: 100,
        adjusted: 0,
        sold: 100,
        db_stock: 0,
        redis_stock: 0,
        held: 0,
        ok: true,
      });
      expect(await healthy.redis.exists(lockKey(resource), lockQueueKey(resource))).toBe(0);
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

  it('is refused at once under the lock strategy, without asking for the busy lock', async () => {
    const product = await newProduct(1, 'lock');
    await healthy.purchaseService.purchase({ userId: 1, items: [{ productId: product.id, quantity: 1 }] });
    const locks = new RedisLock(healthy.redis);
    const holder = await locks.acquire(String(product.id), { ttlMs: 60_000 });
    const asked: string[] = [];
    const counted: DistributedLock = {
      acquire: (resource, options) => {
        asked.push(resource);
        return locks.acquire(resource, options);
      },
      release: (lock) => locks.release(lock),
      extend: (lock, ttlMs) => locks.extend(lock, ttlMs),
      advanceFence: (resource, fence) => locks.advanceFence(resource, fence),
    };
    const service = new PurchaseService({
      stock: healthy.stock,
      locks: counted,
      products: healthy.products,
      purchases: healthy.purchases,
      log: quietLog,
      lockOptions: { waitBudgetMs: 20_000 },
    });
    const error = await service
      .purchase({ userId: 2, items: [{ productId: product.id, quantity: 1 }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InsufficientStockError);
    expect(asked).toEqual([]);
    expect(await healthy.redis.zcard(lockQueueKey(String(product.id)))).toBe(0);
    expect(await locks.release(holder)).toBe('released');
  });

  it('stops lock waiters as soon as the stock runs out while they wait', async () => {
    const product = await newProduct(1, 'lock');
    const resource = String(product.id);
    const locks = new RedisLock(healthy.redis);
    const holder = await locks.acquire(resource, { ttlMs: 60_000 });
    const patient = stack({ redis: healthy.redis, lockOptions: { waitBudgetMs: 20_000 } });
    const waiting = patient.purchaseService
      .purchase({ userId: 2, items: [{ productId: product.id, quantity: 1 }] })
      .catch((e: unknown) => e);
    await until(
      'the buyer in line for the lock',
      async () => (await healthy.redis.zcard(lockQueueKey(resource))) === 1,
    );
    // Someone else takes the last unit while the buyer waits. The holder keeps the lock throughout, so
    // only the stock check between retries can end the wait before the 20 s budget (LOCK_CONFLICT).
    await healthy.stock.reserve(product.id, 1, ulid());
    expect(await waiting).toBeInstanceOf(InsufficientStockError);
    expect(await healthy.redis.get(lockKey(resource))).toBe(holder.token);
    expect(await healthy.redis.zcard(lockQueueKey(resource))).toBe(0); // it left the line
    expect(await locks.release(holder)).toBe('released');
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
    const breakers = () => ({ redis: 'open', dynamodb: 'closed' });
    const error = await new HealthCheck(dead, healthy.products, 500, breakers)
      .check()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as DependencyUnavailableError).report).toEqual({
      redis: 'unavailable',
      dynamodb: 'ok',
      breakers: { redis: 'open', dynamodb: 'closed' },
    });
    expect((error as Error).message).toBe('Unavailable: redis');
    dead.disconnect();
  });
});

describe("a bought unit's last round trip", () => {
  it("sends the holds' commit with the buyer's in-flight slot's release (atomic), and answers once both are done", async () => {
    const product = await newProduct(3, 'atomic');
    const steps: string[] = [];
    const stock = Object.assign(Object.create(healthy.stock), {
      commitAll: async (...args: Parameters<typeof healthy.stock.commitAll>) => {
        steps.push('commit sent');
        await healthy.stock.commitAll(...args);
        await sleep(30); // a slow answer: the buyer's 200 must still wait for it
        steps.push('commit answered');
      },
    });
    const gate = {
      enter: async () => async () => {
        steps.push('slot freed');
      },
      joinLines: async () => async () => undefined,
    };
    const service = new PurchaseService({
      stock,
      gate,
      locks: new RedisLock(healthy.redis),
      products: healthy.products,
      purchases: healthy.purchases,
      log: quietLog,
    });
    await service.purchase({ userId: 3, items: [{ productId: product.id, quantity: 1 }] });
    steps.push('answered');
    expect(steps).toEqual(['commit sent', 'slot freed', 'commit answered', 'answered']);
    expect(await state(product.id)).toEqual({ redis: 2, holds: 0, db: 2 });
  });

  it("sends the holds' commit with the lock's release, and answers only once both are done", async () => {
    const product = await newProduct(3, 'lock');
    const locks = new RedisLock(healthy.redis);
    const steps: string[] = [];
    const watched: DistributedLock = {
      acquire: (resource, options) => locks.acquire(resource, options),
      release: (lock) => {
        steps.push('release sent');
        return locks.release(lock);
      },
      extend: (lock, ttlMs) => locks.extend(lock, ttlMs),
      advanceFence: (resource, fence) => locks.advanceFence(resource, fence),
    };
    const stock = Object.assign(Object.create(healthy.stock), {
      commitAll: async (...args: Parameters<typeof healthy.stock.commitAll>) => {
        steps.push('commit sent');
        await healthy.stock.commitAll(...args);
        steps.push('commit answered');
      },
    });
    const service = new PurchaseService({
      stock,
      locks: watched,
      products: healthy.products,
      purchases: healthy.purchases,
      log: quietLog,
    });
    await service.purchase({ userId: 3, items: [{ productId: product.id, quantity: 1 }] });
    // The release went out before the commit's answer came back: both in one round trip. Had the
    // commit been awaited inside the critical section, its answer would come first.
    expect(steps).toEqual(['commit sent', 'release sent', 'commit answered']);
    expect(await state(product.id)).toEqual({ redis: 2, holds: 0, db: 2 });
  });
});
