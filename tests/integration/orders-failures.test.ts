/**
 * Hot-deal orders when DynamoDB fails or answers late, when a request dies between its two stores,
 * and at the edges of a deal: the order services built by hand over the test Redis and DynamoDB Local,
 * with faults injected as SDK middleware on the document client they use.
 */

import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { afterAll, describe, expect, it } from 'vitest';
import { OrderRepository, ProductRepository } from '#shared/db';
import type { OrderRecord } from '#shared/model';
import {
  DealRestore,
  DealService,
  type DealStart,
  OrderNotPendingError,
  OrderNotRecordedError,
  OrderOutcomeUnknownError,
  OrderService,
  RedisDeals,
} from '#shared/orders';
import { ProductNotFoundError, Reconciler, stockKey } from '#shared/stock';
import { breakOperations, dynamo, loseAnswers, quietLog, refusal, stack } from '../support/services.ts';

const healthy = stack();
afterAll(() => healthy.redis.quit());

/** The order, deal and reconcile services over `doc`, wired as the functions wire them. */
function hotDeals(options: { doc?: DynamoDBDocumentClient; holdStaleAfterMs?: number } = {}) {
  const doc = options.doc ?? healthy.doc;
  const holdStaleAfterMs = options.holdStaleAfterMs ?? 60_000;
  const redisDeals = new RedisDeals(healthy.redis);
  const orderTable = new OrderRepository(doc, 'orders', 'products', 'purchases');
  const products = new ProductRepository(doc, 'products');
  const restorer = new DealRestore({
    deals: redisDeals,
    stock: healthy.stock,
    products,
    orders: orderTable,
    log: quietLog,
  });
  const orders = new OrderService({
    deals: redisDeals,
    orders: orderTable,
    restore: (productId) => restorer.restoreById(productId),
    log: quietLog,
  });
  const deals = new DealService({
    deals: redisDeals,
    stock: healthy.stock,
    products,
    orders: orderTable,
    orderService: orders,
    restorer,
    log: quietLog,
    holdStaleAfterMs,
  });
  const reconciler = new Reconciler({
    stock: healthy.stock,
    products,
    purchases: healthy.purchases,
    log: quietLog,
    holdStaleAfterMs,
    deals,
    inFlight: redisDeals,
  });
  return { orders, deals, orderTable, redisDeals, reconciler };
}

const ok = hotDeals();
const buyer = 7;

async function dealProduct(stock: number, start: DealStart = {}) {
  const product = await healthy.catalog.create({ name: `deal-${ulid()}`, price: 1500, stock });
  await ok.deals.start(product.id, start);
  return product;
}

/** Both stores' view of one product: live units, open reservations, durable stock, PENDING orders. */
async function state(productId: number) {
  const [live, { reservations }, record, pending] = await Promise.all([
    healthy.stock.peek(productId),
    ok.redisDeals.reservations(productId),
    healthy.products.get(productId, true),
    ok.orderTable.listByProduct(productId, 'PENDING'),
  ]);
  return {
    available: live?.available,
    reserved: reservations.map((r) => r.orderId),
    db: record?.stock,
    pending: pending.map((o) => o.id),
  };
}

async function reconcile(productId: number, holdStaleAfterMs = 60_000) {
  const record = (await healthy.products.get(productId, true))!;
  return (holdStaleAfterMs === 60_000 ? ok : hotDeals({ holdStaleAfterMs })).reconciler.reconcileProduct(
    record,
  );
}

/** Run `action` once, just before the first call of `operation` on `doc` is sent. */
function beforeFirst(doc: DynamoDBDocumentClient, operation: string, action: () => Promise<unknown>) {
  let done = false;
  doc.middlewareStack.add(
    (next, context) => async (args) => {
      if (!done && context.commandName === operation) {
        done = true;
        await action();
      }
      return next(args);
    },
    { step: 'initialize', name: `before-${operation}` },
  );
}

describe('an order whose durable write fails', () => {
  it('releases the reservation, and the buyer’s count, when DynamoDB refuses the write', async () => {
    const product = await dealProduct(5, { maxPerUser: 2 });
    const doc = dynamo();
    breakOperations(doc, ['TransactWriteItemsCommand'], refusal);
    const error = await hotDeals({ doc })
      .orders.create({ userId: buyer, productId: product.id, quantity: 2 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OrderNotRecordedError);
    expect(await state(product.id)).toEqual({ available: 5, reserved: [], db: 5, pending: [] });
    // The cap counts only what was reserved: the buyer may still order 2.
    expect(await ok.orders.create({ userId: buyer, productId: product.id, quantity: 2 })).toMatchObject({
      status: 'PENDING',
    });
  });

  it('leaves the reservation to the reconciler when even the outcome cannot be read, which releases it once stale', async () => {
    const product = await dealProduct(5);
    const doc = dynamo();
    breakOperations(doc, ['TransactWriteItemsCommand', 'GetItemCommand']);
    const error = await hotDeals({ doc })
      .orders.create({ userId: buyer, productId: product.id, quantity: 2 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OrderOutcomeUnknownError);
    const orderId = (error as OrderOutcomeUnknownError).orderId;
    expect(await state(product.id)).toEqual({ available: 3, reserved: [orderId], db: 5, pending: [] });

    // Not stale yet: the request may still be running, so a reconciler leaves it alone.
    expect(await reconcile(product.id)).toMatchObject({ reservationsSettled: 0 });
    expect((await state(product.id)).reserved).toEqual([orderId]);

    expect(await reconcile(product.id, 0)).toMatchObject({ reservationsSettled: 1 });
    expect(await state(product.id)).toEqual({ available: 5, reserved: [], db: 5, pending: [] });
  });

  it('answers the order when its write was applied but the answer was lost', async () => {
    const product = await dealProduct(5);
    const doc = dynamo();
    loseAnswers(doc, ['TransactWriteItemsCommand']);
    const order = await hotDeals({ doc }).orders.create({
      userId: buyer,
      productId: product.id,
      quantity: 2,
    });
    expect(await ok.orderTable.get(order.id)).toEqual(order);
    expect(await state(product.id)).toEqual({
      available: 3,
      reserved: [order.id],
      db: 5,
      pending: [order.id],
    });
  });

  it('refuses an order for a product that does not exist', async () => {
    const error = await ok.orders
      .create({ userId: buyer, productId: 99_999_999, quantity: 1 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProductNotFoundError);
  });
});

describe('a confirm that DynamoDB refuses', () => {
  it('refuses, in DynamoDB, a plain purchase that Redis let in just before the deal opened; every order stays confirmable', async () => {
    const product = await healthy.catalog.create({ name: `deal-${ulid()}`, price: 1500, stock: 5 });
    // Its Redis hold was taken before the start; its durable write arrives after DynamoDB opened the deal.
    expect(await healthy.stock.reserve(product.id, 3, 'late-purchase')).toMatchObject({ status: 'reserved' });
    const view = await ok.deals.start(product.id, {});
    // The start loads the free units minus the purchase in flight: never a stale stock.
    expect(view).toMatchObject({ db_stock: 5, redis_stock: 2 });
    const orders = await Promise.all(
      [1, 2].map((userId) => ok.orders.create({ userId, productId: product.id, quantity: 1 })),
    );
    const late = await healthy.purchases.record({
      id: 'late-purchase',
      user_id: 8,
      items: [{ product_id: product.id, quantity: 3, unit_price: 1500, total_price: 4500 }],
      lines: [{ product_id: product.id, quantity: 3 }],
      total_price: 4500,
      purchased_at: new Date().toISOString(),
    });
    expect(late).toEqual({ status: 'deal-active', productIds: [product.id] });
    // The purchase path releases its hold on that answer: the units come back to the deal.
    expect(await healthy.stock.release(product.id, 'late-purchase')).toBe('released');
    for (const [i, o] of orders.entries())
      expect(await ok.orders.confirm(i + 1, o.id)).toMatchObject({ status: 'CONFIRMED' });
    expect(await state(product.id)).toEqual({ available: 3, reserved: [], db: 3, pending: [] });
  });

  it('lets a cancel that lands between the confirm’s read and its write win; the confirm says CANCELLED', async () => {
    const product = await dealProduct(5);
    const order = await ok.orders.create({ userId: buyer, productId: product.id, quantity: 2 });
    const doc = dynamo();
    beforeFirst(doc, 'TransactWriteItemsCommand', () => ok.orders.cancel(buyer, order.id));
    const error = await hotDeals({ doc })
      .orders.confirm(buyer, order.id)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OrderNotPendingError);
    expect((error as OrderNotPendingError).status).toBe('CANCELLED');
    expect(await healthy.purchases.get(order.id)).toBeNull();
    expect(await state(product.id)).toEqual({ available: 5, reserved: [], db: 5, pending: [] });
  });
});

describe('the reconciler, after a request died between DynamoDB and Redis', () => {
  it('commits the reservation of an order that was confirmed in DynamoDB', async () => {
    const product = await dealProduct(5);
    const order = await ok.orders.create({ userId: buyer, productId: product.id, quantity: 2 });
    expect(await ok.orderTable.confirm(order, new Date().toISOString())).toBe('confirmed');
    expect(await state(product.id)).toEqual({ available: 3, reserved: [order.id], db: 3, pending: [] });

    expect(await reconcile(product.id)).toMatchObject({ reservationsSettled: 1 });
    expect(await state(product.id)).toEqual({ available: 3, reserved: [], db: 3, pending: [] });
    const audit = (await ok.reconciler.verify()).products.find((p) => p.product_id === product.id);
    expect(audit).toMatchObject({ sold: 2, reserved: 0, ok: true });
  });

  it('releases the reservation of an order that was cancelled in DynamoDB', async () => {
    const product = await dealProduct(5);
    const order = await ok.orders.create({ userId: buyer, productId: product.id, quantity: 2 });
    expect(await ok.orderTable.settle(order, 'CANCELLED', new Date().toISOString())).toBe(true);

    expect(await reconcile(product.id)).toMatchObject({ reservationsSettled: 1 });
    expect(await state(product.id)).toEqual({ available: 5, reserved: [], db: 5, pending: [] });
  });

  it('expires a PENDING order past its time whose reservation Redis no longer has', async () => {
    const product = await dealProduct(5);
    const at = new Date(Date.now() - 60_000).toISOString();
    const order: OrderRecord = {
      id: ulid(),
      user_id: buyer,
      product_id: product.id,
      quantity: 1,
      unit_price: 1500,
      total_price: 1500,
      status: 'PENDING',
      created_at: at,
      expires_at: new Date(Date.now() - 1_000).toISOString(),
      updated_at: at,
      deal_generation: 1,
    };
    // Durable, with its units out of the deal's free ones, but never reserved in Redis.
    expect(await ok.orderTable.create(order, 0)).toEqual({ status: 'created' });
    await healthy.stock.lowerTo(product.id, 4);

    expect(await reconcile(product.id)).toMatchObject({ reservationsSettled: 1 });
    expect((await ok.orderTable.get(order.id))?.status).toBe('EXPIRED');
    expect(await state(product.id)).toEqual({ available: 5, reserved: [], db: 5, pending: [] });
  });
});

describe('the start and the end of a deal', () => {
  it('sets a drifted Redis to the durable stock when the deal starts', async () => {
    const product = await healthy.catalog.create({ name: `deal-${ulid()}`, price: 1500, stock: 10 });
    await healthy.redis.hset(stockKey(product.id), 'available', 7);
    const view = await ok.deals.start(product.id, {});
    expect(view).toMatchObject({ db_stock: 10, redis_stock: 10 });
  });

  it('leaves Redis = DynamoDB at the end, an ordinary product again', async () => {
    const product = await dealProduct(10);
    const order = await ok.orders.create({ userId: buyer, productId: product.id, quantity: 2 });
    expect(await healthy.stock.reserve(product.id, 1, 'during-deal')).toEqual({ status: 'deal-active' });

    const ended = await ok.deals.end(product.id);
    expect(ended).toEqual({
      product_id: product.id,
      released: 2,
      confirmed: 0,
      db_stock: 10,
      redis_stock: 10,
    });
    expect((await ok.orderTable.get(order.id))?.status).toBe('EXPIRED');
    expect(await healthy.stock.reserve(product.id, 1, 'after-deal')).toMatchObject({ status: 'reserved' });
    expect(await healthy.stock.release(product.id, 'after-deal')).toBe('released');
    expect(await state(product.id)).toEqual({ available: 10, reserved: [], db: 10, pending: [] });
  });
});
