/**
 * A hot deal never hands a reserved unit out twice, whatever Redis forgets: every 202 PENDING order
 * stays confirmable until it expires, and the buyer's cap holds, across a flush mid-deal, a failover
 * that loses only the last writes, a restore racing an order write still in flight, an index that
 * lags, and clock jumps in the function. Start, end and generations at their edges. Real Redis and
 * DynamoDB Local; faults injected as SDK middleware, Redis commands and a disconnected client.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { OrderRecord } from '#shared/model';
import {
  DealNotActiveError,
  dealKey,
  dealUsersKey,
  OrderExpiredError,
  PurchaseLimitError,
  reservationsKey,
} from '#shared/orders';
import { DealActiveError, InsufficientStockError, stockKey } from '#shared/stock';
import { countStatuses, startTestApi, type TestApi } from '../support/api.ts';
import { hotDeals } from '../support/deals.ts';
import { dynamo, gateOperations, stack } from '../support/services.ts';

const base = stack();
const ok = hotDeals(base);
afterAll(() => base.redis.quit());

/** Both names of an order's durable write: a transaction now, a plain Put before it was one. */
const ORDER_WRITES = ['TransactWriteItemsCommand', 'PutItemCommand'];

async function dealProduct(
  stock: number,
  start: { maxPerUser?: number; reservationTtlSeconds?: number } = {},
) {
  const product = await base.catalog.create({ name: `deal-${ulid()}`, price: 1500, stock });
  await ok.deals.start(product.id, start);
  return product;
}

const outcome = <T>(p: Promise<T>) =>
  p.then(
    (value) => ({ value, error: undefined }),
    (error: unknown) => ({ value: undefined, error }),
  );

/**
 * Confirm every order the buyers were told is PENDING: each must confirm (none is refused for want
 * of stock), and DynamoDB then holds exactly initial − confirmed units, never fewer than zero.
 */
async function confirmAll(productId: number, orders: readonly OrderRecord[]) {
  const results = await Promise.all(orders.map((o) => outcome(ok.orders.confirm(o.user_id, o.id))));
  const refused = results.filter((r) => r.error);
  expect(refused.map((r) => (r.error as Error).name)).toEqual([]);
  const product = await base.products.get(productId, true);
  const units = orders.reduce((sum, o) => sum + o.quantity, 0);
  expect(product?.stock).toBe((product?.initial_stock ?? 0) - units);
  expect(product?.stock).toBeGreaterThanOrEqual(0);
}

/** Copy a product's deal keys, as a replica that last synced now would hold them. */
async function snapshot(productId: number) {
  const keys = [stockKey(productId), dealKey(productId), reservationsKey(productId), dealUsersKey(productId)];
  const dumps = await Promise.all(keys.map((k) => base.redis.dumpBuffer(k)));
  return async () => {
    for (const [i, key] of keys.entries()) {
      const dump = dumps[i];
      if (dump) await base.redis.restore(key, 0, dump, 'REPLACE');
      else await base.redis.del(key);
    }
  };
}

/** The by-product index lagging behind the table: these orders are durable but not in it yet. */
function lagIndex(doc: DynamoDBDocumentClient, hidden: () => ReadonlySet<string>) {
  const idOf = (item: Record<string, unknown>) => {
    const id = item.id as string | { S?: string } | undefined;
    return typeof id === 'string' ? id : (id?.S ?? '');
  };
  doc.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      const input = args.input as { IndexName?: string };
      const output = result.output as { Items?: Record<string, unknown>[] };
      if (context.commandName === 'QueryCommand' && input.IndexName === 'byProduct' && output.Items)
        output.Items = output.Items.filter((item) => !hidden().has(idOf(item)));
      return result;
    },
    { step: 'initialize', name: 'lag-by-product-index' },
  );
}

describe('Redis losing data mid-deal: every 202 stays confirmable, the cap holds', () => {
  it('a restore racing order writes still in flight cannot admit their units twice', async () => {
    const product = await dealProduct(30);
    const doc = dynamo();
    const gate = gateOperations(doc, ORDER_WRITES);
    const slow = hotDeals(base, { doc });
    // 20 orders reserved in Redis, their durable writes held in flight.
    const first = Array.from({ length: 20 }, (_, i) =>
      outcome(slow.orders.create({ userId: 1000 + i, productId: product.id, quantity: 1 })),
    );
    await vi.waitFor(() => expect(gate.arrived).toBe(20), { timeout: 20_000 });
    await base.redis.flushall();
    // 30 more buyers: the first one's restore reads DynamoDB while the 20 writes are still in flight.
    const second = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        outcome(ok.orders.create({ userId: 2000 + i, productId: product.id, quantity: 1 })),
      ),
    );
    gate.open();
    const all = [...(await Promise.all(first)), ...second];
    const pending = all.flatMap((r) => (r.value ? [r.value] : []));
    expect(pending.length).toBeLessThanOrEqual(30);
    for (const r of all.filter((r) => r.error))
      expect(r.error, String(r.error)).toBeInstanceOf(InsufficientStockError);
    await confirmAll(product.id, pending);
  });

  it('an index that lags behind the orders cannot make a restore hand their units out again', async () => {
    const product = await dealProduct(4, { maxPerUser: 3 });
    const first = await ok.orders.create({ userId: 1, productId: product.id, quantity: 3 });
    const doc = dynamo();
    lagIndex(doc, () => new Set([first.id]));
    const lagging = hotDeals(base, { doc });
    await base.redis.flushall();
    const second = await outcome(lagging.orders.create({ userId: 2, productId: product.id, quantity: 2 }));
    expect(second.error).toBeInstanceOf(InsufficientStockError);
    // The buyer's cap comes from DynamoDB too: the rebuilt count missed the order, DynamoDB did not.
    const again = await outcome(lagging.orders.create({ userId: 1, productId: product.id, quantity: 1 }));
    expect(again.error).toBeInstanceOf(PurchaseLimitError);
    expect(again.error).toMatchObject({ limit: 3, already: 3 });
    const third = await lagging.orders.create({ userId: 3, productId: product.id, quantity: 1 });
    await confirmAll(product.id, [first, third]);
  });

  it('a failover that loses the last reservations cannot sell them again nor reset the cap', async () => {
    const product = await dealProduct(5, { maxPerUser: 2 });
    const failover = await snapshot(product.id);
    const lost = await Promise.all(
      [1, 2].map((userId) => ok.orders.create({ userId, productId: product.id, quantity: 2 })),
    );
    // The replica is promoted without the two reservations (and their decrements, and the counts).
    await failover();
    expect(await base.redis.hget(stockKey(product.id), 'available')).toBe('5');

    const more = await outcome(ok.orders.create({ userId: 3, productId: product.id, quantity: 2 }));
    expect(more.error).toBeInstanceOf(InsufficientStockError);
    // The refusal lowered Redis at once to what DynamoDB can still promise.
    expect(await base.redis.hget(stockKey(product.id), 'available')).toBe('1');
    const capped = await outcome(ok.orders.create({ userId: 1, productId: product.id, quantity: 1 }));
    expect(capped.error).toBeInstanceOf(PurchaseLimitError);
    const last = await ok.orders.create({ userId: 4, productId: product.id, quantity: 1 });
    await confirmAll(product.id, [...lost, last]);
  });

  it('after a failover, the reconciler brings Redis back up to DynamoDB’s free units once nothing is in flight', async () => {
    const product = await dealProduct(5);
    const failover = await snapshot(product.id);
    const [a, b] = await Promise.all(
      [1, 2].map((userId) => ok.orders.create({ userId, productId: product.id, quantity: 2 })),
    );
    await failover();
    // A refusal lowers Redis to the free unit left; then a cancel frees 2 that Redis never held back.
    await outcome(ok.orders.create({ userId: 3, productId: product.id, quantity: 2 }));
    await ok.orders.cancel(1, a!.id);
    expect(await base.redis.hget(stockKey(product.id), 'available')).toBe('1');
    const still = await ok.orders.create({ userId: 5, productId: product.id, quantity: 1 });

    await ok.reconciler.reconcileProduct((await base.products.get(product.id, true))!);
    const durable = (await base.products.get(product.id, true)) as { deal_free?: number };
    expect(durable.deal_free).toBe(2);
    expect(await base.redis.hget(stockKey(product.id), 'available')).toBe('2');
    await confirmAll(product.id, [b!, still]);
  });
});

/** Redis's side of the audit for one product: available + held + reserved = DynamoDB's stock. */
async function audit(
  reconciler: { verify(ids: readonly number[]): Promise<{ products: unknown[] }> },
  id: number,
) {
  return (await reconciler.verify([id])).products[0];
}

describe('one reconcile after a failover that lost the last writes: Redis = DynamoDB', () => {
  it('puts back the reservations of PENDING orders the replica never got, and their buyers’ counts', async () => {
    const product = await dealProduct(12, { maxPerUser: 3 });
    const create = (userId: number, quantity: number) =>
      ok.orders.create({ userId, productId: product.id, quantity });
    const kept = await create(1, 2);
    const confirmedLate = await create(2, 1);
    const cancelledLate = await create(3, 2);
    const failover = await snapshot(product.id);
    // What the primary acknowledged after the replica's last sync: two PENDING orders, one order
    // placed and confirmed, one placed and cancelled, a confirm and a cancel of older orders.
    const lost = [await create(4, 2), await create(5, 1)];
    const confirmedLost = await create(6, 1);
    await ok.orders.confirm(6, confirmedLost.id);
    await ok.orders.cancel(7, (await create(7, 1)).id);
    await ok.orders.confirm(2, confirmedLate.id);
    await ok.orders.cancel(3, cancelledLate.id);
    await failover();
    const reserved = [kept, ...lost];

    const summary = await ok.reconciler.reconcileProduct((await base.products.get(product.id, true))!);
    // 12 − 2 confirmed − 5 reserved (2 + 2 + 1) = 5 free.
    expect(await audit(ok.reconciler, product.id)).toMatchObject({
      ok: true,
      db_stock: 10,
      redis_stock: 5,
      held: 0,
      reserved: 5,
    });
    // Settled: a commit, a release and the two reservations put back.
    expect(summary).toMatchObject({ reservationsSettled: 4 });
    const { reservations } = await ok.redisDeals.reservations(product.id);
    expect(reservations.map((r) => r.orderId).sort()).toEqual(reserved.map((o) => o.id).sort());
    expect(await base.redis.hgetall(dealUsersKey(product.id))).toMatchObject({ 1: '2', 4: '2', 5: '1' });
    // A put-back reservation settles as any other: its cancel gives its unit back in Redis too.
    await ok.orders.cancel(5, lost[1]!.id);
    expect(await audit(ok.reconciler, product.id)).toMatchObject({ ok: true, redis_stock: 6, reserved: 4 });
    const capped = await outcome(create(4, 2));
    expect(capped.error).toBeInstanceOf(PurchaseLimitError);
    await confirmAll(product.id, [confirmedLate, confirmedLost, kept, lost[0]!]);
    expect(await audit(ok.reconciler, product.id)).toMatchObject({
      ok: true,
      db_stock: 6,
      redis_stock: 6,
      reserved: 0,
    });
  });

  it('does not put back the reservation of an order cancelled after the index listed it as PENDING', async () => {
    const product = await dealProduct(10);
    const failover = await snapshot(product.id);
    const [gone, live] = [
      await ok.orders.create({ userId: 1, productId: product.id, quantity: 2 }),
      await ok.orders.create({ userId: 2, productId: product.id, quantity: 1 }),
    ];
    await failover();
    const doc = dynamo();
    let cancelled = false;
    doc.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        // The page of PENDING orders is read; then the buyer cancels (its release finds nothing in Redis).
        if (!cancelled && context.commandName === 'QueryCommand') {
          cancelled = true;
          expect(await ok.orders.cancel(1, gone.id)).toMatchObject({ status: 'CANCELLED' });
        }
        return result;
      },
      { step: 'initialize', name: 'cancel-after-listing' },
    );
    await hotDeals(base, { doc }).reconciler.reconcileProduct((await base.products.get(product.id, true))!);
    expect(cancelled).toBe(true);
    const { reservations } = await ok.redisDeals.reservations(product.id);
    expect(reservations.map((r) => r.orderId)).toEqual([live.id]);
    expect(await audit(ok.reconciler, product.id)).toMatchObject({ ok: true, redis_stock: 9, reserved: 1 });
    await confirmAll(product.id, [live]);
  });

  it('never sets Redis above DynamoDB when a cancel lands between the repair’s read of the free units and its release in Redis', async () => {
    const product = await dealProduct(10);
    const order = await ok.orders.create({ userId: 1, productId: product.id, quantity: 2 });
    // Redis a unit short of DynamoDB's free units, so the pass repairs it.
    await base.redis.hincrby(stockKey(product.id), 'available', -1);
    const doc = dynamo();
    let cancelled = false;
    doc.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { TableName?: string };
        // The buyer's cancel reaches DynamoDB just before the pass reads the product's free units;
        // its release in Redis comes after the pass.
        if (!cancelled && context.commandName === 'GetItemCommand' && input.TableName === 'products') {
          cancelled = true;
          expect(await ok.orderTable.settle(order, 'CANCELLED', new Date().toISOString())).toBe(true);
        }
        return next(args);
      },
      { step: 'initialize', name: 'cancel-before-free-units' },
    );
    await hotDeals(base, { doc }).reconciler.reconcileProduct((await base.products.get(product.id, true))!);
    expect(cancelled).toBe(true);
    expect(await ok.redisDeals.release(product.id, order.id)).toBe('released');

    const durable = await base.products.get(product.id, true);
    const live = await base.stock.peek(product.id);
    const redisReserved = await ok.redisDeals.reserved(product.id);
    expect(live!.available + redisReserved).toBeLessThanOrEqual(durable!.stock);
    // The next pass, with nothing in flight, brings Redis up to DynamoDB.
    await ok.reconciler.reconcileProduct(durable!);
    expect(await audit(ok.reconciler, product.id)).toMatchObject({ ok: true, redis_stock: 10, reserved: 0 });
  });
});

describe('FLUSHALL in the middle of a stampede over HTTP', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(() => api.close());

  it('100 buyers on 30 units, Redis flushed mid-way: at most 30 PENDING and every one confirms', async () => {
    const admin = await api.admin();
    const product = await api.product(30, { price: 1500 });
    expect(
      (await api.request('POST', `/api/products/${product.id}/hotdeal/start`, { token: admin, body: {} }))
        .status,
    ).toBe(200);
    const buyers = [];
    for (let i = 0; i < 100; i += 50)
      buyers.push(...(await Promise.all(Array.from({ length: 50 }, () => api.user('flush')))));
    let answered = 0;
    let flushed: Promise<unknown> | undefined;
    const replies = await Promise.all(
      buyers.map(async (b) => {
        const reply = await api.request('POST', '/api/orders', {
          token: b.token,
          body: { product_id: product.id, quantity: 1 },
        });
        if (++answered === 15) flushed = base.redis.flushall();
        return { buyer: b, reply };
      }),
    );
    await flushed;
    const statuses = countStatuses(replies.map((r) => r.reply));
    expect(Object.keys(statuses).sort()).toEqual(expect.arrayContaining(['202']));
    // 503 only as the contract's answer to a request that ran out of time on a loaded machine.
    for (const r of replies.filter((r) => ![202, 400].includes(r.reply.status)))
      expect(r.reply).toMatchObject({ status: 503, body: { code: expect.any(String) } });
    const pending = replies.filter((r) => r.reply.status === 202);
    expect(pending.length).toBeLessThanOrEqual(30);
    const confirms = await Promise.all(
      pending.map((r) =>
        api.request('POST', `/api/orders/${r.reply.body.id}/confirm`, { token: r.buyer.token }),
      ),
    );
    expect(countStatuses(confirms)).toEqual({ 200: pending.length });
    const durable = await base.products.get(product.id, true);
    expect(durable?.stock).toBe(30 - pending.length);
    await ok.reconciler.reconcileProduct((await base.products.get(product.id, true))!);
    const audit = (await ok.reconciler.verify()).products.find((p) => p.product_id === product.id);
    expect(audit).toMatchObject({ ok: true, sold: pending.length, reserved: 0 });
  });
});

describe('one clock: Redis TIME decides expiry, never the function’s clock', () => {
  afterEach(() => vi.useRealTimers());

  it('confirms a live order while the function’s clock is an hour ahead (and the reconciler leaves it alone)', async () => {
    const product = await dealProduct(5);
    const order = await ok.orders.create({ userId: 1, productId: product.id, quantity: 1 });
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 3_600_000 });
    await ok.reconciler.reconcileProduct((await base.products.get(product.id, true))!);
    expect((await ok.orderTable.get(order.id))?.status).toBe('PENDING');
    expect(await ok.orders.confirm(1, order.id)).toMatchObject({ status: 'CONFIRMED' });
  });

  it('refuses an expired order while the function’s clock is an hour behind', async () => {
    const product = await dealProduct(5, { reservationTtlSeconds: 1 });
    const order = await ok.orders.create({ userId: 1, productId: product.id, quantity: 2 });
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() - 3_600_000 });
    const late = await outcome(ok.orders.confirm(1, order.id));
    expect(late.error).toBeInstanceOf(OrderExpiredError);
    expect(await base.purchases.get(order.id)).toBeNull();
    expect(await base.redis.hget(stockKey(product.id), 'available')).toBe('5');
  });
});

/** The start's durable opening: an update of the product, in one transaction with its audit row. */
const DEAL_OPENING = ['UpdateItemCommand', 'TransactWriteItemsCommand'];

describe('the start of a deal', () => {
  it('never loads a stale stock: a purchase that lands between the start’s reads is not sold again', async () => {
    const product = await base.catalog.create({ name: `deal-${ulid()}`, price: 1500, stock: 10 });
    const doc = dynamo();
    let sold = false;
    doc.middlewareStack.add(
      (next, context) => async (args) => {
        // Just before the start's first write, an ordinary purchase of 3 lands.
        if (!sold && DEAL_OPENING.includes(String(context.commandName))) {
          sold = true;
          await base.purchaseService.purchase({ userId: 9, items: [{ productId: product.id, quantity: 3 }] });
        }
        return next(args);
      },
      { step: 'initialize', name: 'purchase-between-reads' },
    );
    const view = await hotDeals(base, { doc }).deals.start(product.id, {});
    expect(view).toMatchObject({ db_stock: 7, redis_stock: 7 });
    expect(await base.redis.hget(stockKey(product.id), 'available')).toBe('7');
  });

  it('is finished by a rerun after a crash between DynamoDB and Redis, loading the stock once', async () => {
    const product = await base.catalog.create({ name: `deal-${ulid()}`, price: 1500, stock: 10 });
    // The function dies after DynamoDB opened the deal: its Redis connection is gone.
    const redis = base.redis.duplicate();
    const doc = dynamo();
    doc.middlewareStack.add(
      (next, context) => async (args) => {
        const output = await next(args);
        if (DEAL_OPENING.includes(String(context.commandName))) redis.disconnect();
        return output;
      },
      { step: 'initialize', name: 'crash-after-open' },
    );
    const crashed = await outcome(hotDeals(base, { doc, redis }).deals.start(product.id, { maxPerUser: 2 }));
    // It died on Redis, after DynamoDB answered: the connection it had is gone.
    expect(String(crashed.error)).toMatch(/Connection is closed/);
    expect((await base.products.get(product.id, true)) as { deal?: { status: string } }).toMatchObject({
      deal: { status: 'open' },
    });
    // Ordinary purchases are refused from the durable opening on, even before Redis knows.
    const plain = await outcome(
      base.purchaseService.purchase({ userId: 9, items: [{ productId: product.id, quantity: 1 }] }),
    );
    expect(plain.error).toBeInstanceOf(DealActiveError);

    const resumed = await ok.deals.start(product.id, {});
    expect(resumed).toMatchObject({ db_stock: 10, redis_stock: 10, deal: { max_per_user: 2 } });
    const order = await ok.orders.create({ userId: 1, productId: product.id, quantity: 2 });
    // A third start changes nothing: no second load over the reservation.
    await expect(ok.deals.start(product.id, {})).rejects.toMatchObject({ name: 'DealAlreadyActiveError' });
    expect(await base.redis.hget(stockKey(product.id), 'available')).toBe('8');
    await confirmAll(product.id, [order]);
  });
});

describe('the end of a deal and the next one', () => {
  it('settles an order whose row lands after the end: DynamoDB refuses it, nothing stays reserved', async () => {
    const product = await dealProduct(10);
    const doc = dynamo();
    const gate = gateOperations(doc, ORDER_WRITES);
    const late = outcome(
      hotDeals(base, { doc }).orders.create({ userId: 1, productId: product.id, quantity: 2 }),
    );
    await vi.waitFor(() => expect(gate.arrived).toBe(1));
    const ended = await ok.deals.end(product.id);
    gate.open();
    expect((await late).error).toBeInstanceOf(DealNotActiveError);
    expect(ended).toMatchObject({ released: 0, db_stock: 10, redis_stock: 10 });
    expect(await ok.orderTable.listByProduct(product.id, 'PENDING')).toEqual([]);
    expect(await base.redis.hget(stockKey(product.id), 'available')).toBe('10');
    expect(await base.redis.hlen(reservationsKey(product.id))).toBe(0);
  });

  it('an old deal’s release cannot lower the new deal’s cap counter', async () => {
    const product = await dealProduct(10, { maxPerUser: 1 });
    const old = await ok.orders.create({ userId: 1, productId: product.id, quantity: 1 });
    // The old order expired in DynamoDB, its Redis release still to come (a request that died).
    expect(await ok.orderTable.settle(old, 'EXPIRED', new Date().toISOString())).toBe(true);
    await ok.deals.end(product.id);
    await ok.deals.start(product.id, { maxPerUser: 1 });
    const mine = await ok.orders.create({ userId: 1, productId: product.id, quantity: 1 });
    expect(mine.deal_generation).toBe(2);
    // A release of the old generation arriving now (re-created as the late request would find it).
    await base.redis.hset(reservationsKey(product.id), old.id, `1:1:${Date.now() + 60_000}:1`);
    await base.redis.hincrby(stockKey(product.id), 'available', -1);
    expect(await ok.redisDeals.release(product.id, old.id)).toBe('released');
    await ok.reconciler.reconcileProduct((await base.products.get(product.id, true))!);
    expect(await base.redis.hget(dealUsersKey(product.id), '1')).toBe('1');
    const second = await outcome(ok.orders.create({ userId: 1, productId: product.id, quantity: 1 }));
    expect(second.error).toBeInstanceOf(PurchaseLimitError);
    await confirmAll(product.id, [mine]);
  });
});
