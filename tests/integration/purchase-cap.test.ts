/**
 * A product's per-buyer cap on plain purchases (`max_per_user`): DynamoDB counts each buyer's units
 * of a capped product in the purchase's own transaction, so the cap is exact under any race, and a
 * refusal leaves no trace in stock or history.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capCountId } from '../../shared/db/purchases.ts';
import { PurchaseLimitError, stockKey } from '../../shared/stock/index.ts';
import { countStatuses, type Reply, startTestApi, type TestApi, unique } from '../support/api.ts';
import { dynamo, loseAnswers, stack } from '../support/services.ts';

// One buyer's ten purchases race for real: room for all of them in flight at once (the default, 2,
// would turn most into 429 before they reach the cap). Read when the handlers first run, after this.
process.env.PURCHASES_IN_FLIGHT_PER_USER = '10';

let api: TestApi;
let admin: string;
const healthy = stack();
beforeAll(async () => {
  api = await startTestApi();
  admin = await api.admin();
});
afterAll(async () => {
  await api.close();
  await healthy.redis.quit();
});

async function capped(
  stock: number,
  maxPerUser: number | null,
  options: {
    strategy?: 'lock' | 'atomic';
    shards?: number;
    components?: { product_id: number; quantity: number }[];
  } = {},
): Promise<number> {
  const reply = await api.request('POST', '/api/products', {
    token: admin,
    body: {
      name: unique('capped'),
      price: 100,
      stock,
      max_per_user: maxPerUser,
      ...(options.strategy && { strategy: options.strategy }),
      ...(options.shards && { stock_shards: options.shards }),
      ...(options.components && { components: options.components }),
    },
  });
  if (reply.status !== 201) throw new Error(`create product: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body.id;
}

/**
 * A purchase as a client sends it: a 429 (the buyer's place in a product's lock line is taken by
 * their own other purchase) is sent again after a short pause, as Retry-After asks, only sooner.
 */
async function buy(
  token: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<Reply> {
  for (let attempt = 1; ; attempt++) {
    const reply = await api.request('POST', '/api/purchases', { token, body, headers });
    if (reply.status !== 429 || attempt >= 400) return reply;
    await sleep(10 + Math.random() * 40);
  }
}

const one = (token: string, productId: number, quantity = 1, headers: Record<string, string> = {}) =>
  buy(token, { product_id: productId, quantity }, headers);
const cart = (token: string, items: [number, number][]) =>
  buy(token, { items: items.map(([product_id, quantity]) => ({ product_id, quantity })) });

async function stockOf(productId: number) {
  return (await api.request('GET', `/api/products/${productId}/stock`, { token: admin })).body;
}

async function audited(productIds: number[]) {
  const reply = await api.request('GET', `/api/admin/inventory/verify?product_id=${productIds.join(',')}`, {
    token: admin,
  });
  return reply.body.products as { product_id: number; ok: boolean; sold: number; held: number }[];
}

/** The buyer's durable count of a capped product (the item the purchase transaction keeps). */
async function counted(productId: number, userId: number): Promise<number | undefined> {
  const { Item } = await healthy.doc.send(
    new GetCommand({
      TableName: 'purchases',
      Key: { id: capCountId(productId, userId) },
      ConsistentRead: true,
    }),
  );
  return Item?.bought;
}

describe.each([
  ['lock', 1],
  ['atomic', 1],
  ['lock', 4],
  ['atomic', 4],
] as const)('a cap of 3 (%s strategy, %i stock shards)', (strategy, shards) => {
  it('sells exactly 3 of 10 racing one-unit purchases to one buyer; 7 × 409 PURCHASE_LIMIT; stock exact', async () => {
    const productId = await capped(50, 3, { strategy, shards });
    const buyer = await api.user('capped');
    const replies = await Promise.all(Array.from({ length: 10 }, () => one(buyer.token, productId)));

    expect(countStatuses(replies)).toEqual({ 200: 3, 409: 7 });
    for (const refused of replies.filter((r) => r.status === 409)) {
      expect(refused.body).toEqual({
        detail: expect.stringContaining('At most 3'),
        code: 'PURCHASE_LIMIT',
        product_id: productId,
        limit: 3,
        already: 3,
      });
    }
    expect(await stockOf(productId)).toEqual({
      product_id: productId,
      db_stock: 47,
      redis_stock: 47,
      synced: true,
    });
    expect(await audited([productId])).toMatchObject([{ product_id: productId, sold: 3, held: 0, ok: true }]);
    expect(await counted(productId, buyer.id)).toBe(3);
    const mine = await api.request('GET', '/api/purchases/me', { token: buyer.token });
    expect(mine.body).toHaveLength(3);

    // Another buyer has a count of their own.
    const other = await api.user('capped');
    const theirs = await Promise.all(Array.from({ length: 4 }, () => one(other.token, productId)));
    expect(countStatuses(theirs)).toEqual({ 200: 3, 409: 1 });
    expect(await stockOf(productId)).toMatchObject({ db_stock: 44, redis_stock: 44, synced: true });
  });
});

describe('what the cap counts', () => {
  it('counts units, not purchases: 2 then 2 of a cap of 3 is refused, 1 more is not', async () => {
    const productId = await capped(10, 3);
    const buyer = await api.user();
    expect((await one(buyer.token, productId, 2)).status).toBe(200);
    const over = await one(buyer.token, productId, 2);
    expect(over.status).toBe(409);
    expect(over.body).toMatchObject({ code: 'PURCHASE_LIMIT', limit: 3, already: 2 });
    expect((await one(buyer.token, productId, 1)).status).toBe(200);
    expect(await stockOf(productId)).toMatchObject({ db_stock: 7, redis_stock: 7, synced: true });
  });

  it('refuses a first purchase larger than the cap itself', async () => {
    const productId = await capped(10, 2);
    const buyer = await api.user();
    const reply = await one(buyer.token, productId, 3);
    expect(reply.status).toBe(409);
    expect(reply.body).toMatchObject({ code: 'PURCHASE_LIMIT', limit: 2, already: 0 });
    expect(await stockOf(productId)).toMatchObject({ db_stock: 10, redis_stock: 10, synced: true });
    expect(await counted(productId, buyer.id)).toBeUndefined();
  });

  it.each(['lock', 'atomic'] as const)(
    'refuses a cart whose capped line passes the cap, and writes none of its lines (%s)',
    async (strategy) => {
      const cappedId = await capped(10, 2, { strategy });
      const freeId = await capped(10, null, { strategy });
      const buyer = await api.user();
      expect((await one(buyer.token, cappedId, 1)).status).toBe(200);

      const reply = await cart(buyer.token, [
        [freeId, 3],
        [cappedId, 2],
      ]);
      expect(reply.status).toBe(409);
      expect(reply.body).toMatchObject({
        code: 'PURCHASE_LIMIT',
        product_id: cappedId,
        limit: 2,
        already: 1,
      });
      expect(await stockOf(freeId)).toMatchObject({ db_stock: 10, redis_stock: 10, synced: true });
      expect(await stockOf(cappedId)).toMatchObject({ db_stock: 9, redis_stock: 9, synced: true });
      expect(await counted(cappedId, buyer.id)).toBe(1);
      expect((await api.request('GET', '/api/purchases/me', { token: buyer.token })).body).toHaveLength(1);
      expect((await audited([freeId, cappedId])).every((p) => p.ok && p.held === 0)).toBe(true);

      // Within the cap, the same cart goes through whole.
      const within = await cart(buyer.token, [
        [freeId, 3],
        [cappedId, 1],
      ]);
      expect(within.status).toBe(200);
      expect(await stockOf(freeId)).toMatchObject({ db_stock: 7, redis_stock: 7, synced: true });
      expect(await counted(cappedId, buyer.id)).toBe(2);
      // An uncapped product keeps no count at all.
      expect(await counted(freeId, buyer.id)).toBeUndefined();
    },
  );

  it("counts a bundle's units toward its capped component, together with a cart line of that component", async () => {
    const partId = await capped(20, 3);
    const bundleId = await capped(10, null, { components: [{ product_id: partId, quantity: 1 }] });
    const buyer = await api.user();
    // 1 bundle (1 part) + 2 parts = 3 parts: exactly the cap.
    expect(
      (
        await cart(buyer.token, [
          [bundleId, 1],
          [partId, 2],
        ])
      ).status,
    ).toBe(200);
    const more = await one(buyer.token, bundleId, 1);
    expect(more.status).toBe(409);
    expect(more.body).toMatchObject({ code: 'PURCHASE_LIMIT', product_id: partId, limit: 3, already: 3 });
    expect(await stockOf(partId)).toMatchObject({ db_stock: 17, redis_stock: 17, synced: true });
    expect(await stockOf(bundleId)).toMatchObject({ db_stock: 9, redis_stock: 9, synced: true });
  });
});

describe('changing the cap', () => {
  it('takes effect at once: raised, removed and set again by an admin', async () => {
    const productId = await capped(50, 1);
    const buyer = await api.user();
    const patch = (max_per_user: number | null) =>
      api.request('PATCH', `/api/products/${productId}`, { token: admin, body: { max_per_user } });

    expect((await one(buyer.token, productId)).status).toBe(200);
    expect((await one(buyer.token, productId)).status).toBe(409);

    const raised = await patch(3);
    expect(raised.status).toBe(200);
    expect(raised.body.max_per_user).toBe(3);
    expect((await one(buyer.token, productId, 2)).status).toBe(200);
    expect((await one(buyer.token, productId)).body).toMatchObject({
      code: 'PURCHASE_LIMIT',
      limit: 3,
      already: 3,
    });

    const lowered = await patch(2);
    expect(lowered.body.max_per_user).toBe(2);
    expect((await one(buyer.token, productId)).body).toMatchObject({
      code: 'PURCHASE_LIMIT',
      limit: 2,
      already: 3,
    });

    const removed = await patch(null);
    expect(removed.status).toBe(200);
    expect(removed.body.max_per_user).toBeNull();
    expect((await one(buyer.token, productId, 5)).status).toBe(200);
    expect(
      (await api.request('GET', `/api/products/${productId}`, { token: buyer.token })).body.max_per_user,
    ).toBe(null);
    expect(await stockOf(productId)).toMatchObject({ db_stock: 42, redis_stock: 42, synced: true });
  });

  it('caps a sharded product after creation: every shard item learns the cap', async () => {
    const productId = await capped(40, null, { shards: 4, strategy: 'atomic' });
    const buyer = await api.user();
    expect((await one(buyer.token, productId, 2)).status).toBe(200);
    expect(
      (await api.request('PATCH', `/api/products/${productId}`, { token: admin, body: { max_per_user: 2 } }))
        .status,
    ).toBe(200);
    // Purchases made while it had no cap are not counted: the count starts with the cap.
    const replies = await Promise.all(Array.from({ length: 5 }, () => one(buyer.token, productId)));
    expect(countStatuses(replies)).toEqual({ 200: 2, 409: 3 });
    for (const refused of replies.filter((r) => r.status === 409))
      expect(refused.body).toMatchObject({ code: 'PURCHASE_LIMIT', limit: 2, already: 2 });
    expect(await stockOf(productId)).toMatchObject({ db_stock: 36, redis_stock: 36, synced: true });
  });

  it.each([
    ['zero', 0],
    ['negative', -1],
    ['fractional', 1.5],
    ['a string', '3'],
  ])('answers a %s cap with 422 on create and on update, and changes nothing', async (_why, value) => {
    const created = await api.request('POST', '/api/products', {
      token: admin,
      body: { name: unique('bad-cap'), price: 1, stock: 1, max_per_user: value },
    });
    expect(created.status).toBe(422);
    expect(created.body).toMatchObject({
      code: 'VALIDATION_ERROR',
      detail: expect.stringContaining('max_per_user'),
    });

    const productId = await capped(5, 2);
    const updated = await api.request('PATCH', `/api/products/${productId}`, {
      token: admin,
      body: { max_per_user: value },
    });
    expect(updated.status).toBe(422);
    expect(updated.body.detail).toContain('max_per_user');
    expect((await api.request('GET', `/api/products/${productId}`, { token: admin })).body.max_per_user).toBe(
      2,
    );
  });

  it('shows the cap in product bodies and lets only an admin set it', async () => {
    const productId = await capped(5, 4);
    const buyer = await api.user();
    expect(
      (await api.request('GET', `/api/products/${productId}`, { token: buyer.token })).body.max_per_user,
    ).toBe(4);
    const list = await api.request('GET', '/api/products?limit=1000', { token: buyer.token });
    expect(list.body.find((p: { id: number }) => p.id === productId)?.max_per_user).toBe(4);
    const forbidden = await api.request('PATCH', `/api/products/${productId}`, {
      token: buyer.token,
      body: { max_per_user: 100 },
    });
    expect(forbidden.status).toBe(403);
  });
});

describe('retries and a live store that is wrong', () => {
  it('answers a retried Idempotency-Key with the first purchase and counts it once', async () => {
    const productId = await capped(10, 2);
    const buyer = await api.user();
    const headers = { 'idempotency-key': `cap-${ulid()}` };
    const first = await one(buyer.token, productId, 1, headers);
    expect(first.status).toBe(200);
    for (let i = 0; i < 3; i++)
      expect((await one(buyer.token, productId, 1, headers)).body).toEqual(first.body);
    expect(await counted(productId, buyer.id)).toBe(1);
    expect((await one(buyer.token, productId)).status).toBe(200);
    expect((await one(buyer.token, productId)).status).toBe(409);
  });

  it('counts a purchase once when its transaction was resent after its answers were lost', async () => {
    const product = await healthy.catalog.create({
      name: `p-${ulid()}`,
      price: 100,
      stock: 10,
      max_per_user: 3,
    });
    const doc = dynamo();
    loseAnswers(doc, ['TransactWriteItemsCommand']);
    const lost = stack({ redis: healthy.redis, doc });
    const userId = 9_000_000 + Math.floor(Math.random() * 1_000_000);
    const purchase = await lost.purchaseService.purchase({
      userId,
      items: [{ productId: product.id, quantity: 2 }],
    });
    expect(await healthy.purchases.get(purchase.id)).toEqual(purchase);
    expect(await counted(product.id, userId)).toBe(2);

    await healthy.purchaseService.purchase({ userId, items: [{ productId: product.id, quantity: 1 }] });
    const refused = await healthy.purchaseService
      .purchase({ userId, items: [{ productId: product.id, quantity: 1 }] })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PurchaseLimitError);
    expect(refused).toMatchObject({ productId: product.id, limit: 3, already: 3, requested: 1 });
    const live = await healthy.stock.peek(product.id);
    expect({ redis: live?.available, db: (await healthy.products.get(product.id, true))?.stock }).toEqual({
      redis: 7,
      db: 7,
    });
  });

  it.each([
    ['lost its cap', (key: string) => healthy.redis.hdel(key, 'cap')],
    ['has a higher one', (key: string) => healthy.redis.hset(key, 'cap', 10)],
  ])('judges by the durable cap when the live store %s, and sets the live one right', async (_why, drift) => {
    const product = await healthy.catalog.create({
      name: `p-${ulid()}`,
      price: 100,
      stock: 10,
      max_per_user: 2,
    });
    const userId = 9_000_000 + Math.floor(Math.random() * 1_000_000);
    await healthy.purchaseService.purchase({ userId, items: [{ productId: product.id, quantity: 2 }] });
    await drift(stockKey(product.id));

    const refused = await healthy.purchaseService
      .purchase({ userId, items: [{ productId: product.id, quantity: 1 }] })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PurchaseLimitError);
    expect((await healthy.stock.peek(product.id))?.maxPerUser).toBe(2);
    expect((await healthy.stock.peek(product.id))?.available).toBe(8);
    expect((await healthy.products.get(product.id, true))?.stock).toBe(8);
  });

  it('serves a buyer the live store wrongly held at a lower cap, once the durable one is set live', async () => {
    const product = await healthy.catalog.create({
      name: `p-${ulid()}`,
      price: 100,
      stock: 10,
      max_per_user: 3,
    });
    const userId = 9_000_000 + Math.floor(Math.random() * 1_000_000);
    await healthy.redis.hset(stockKey(product.id), 'cap', 1);
    const purchase = await healthy.purchaseService.purchase({
      userId,
      items: [{ productId: product.id, quantity: 3 }],
    });
    expect(purchase.lines).toEqual([{ product_id: product.id, quantity: 3 }]);
    expect((await healthy.stock.peek(product.id))?.maxPerUser).toBe(3);
    expect(await counted(product.id, userId)).toBe(3);
  });

  it('keeps the cap when the live store lost the product and restores it from DynamoDB', async () => {
    const product = await healthy.catalog.create({
      name: `p-${ulid()}`,
      price: 100,
      stock: 10,
      max_per_user: 1,
    });
    const userId = 9_000_000 + Math.floor(Math.random() * 1_000_000);
    await healthy.purchaseService.purchase({ userId, items: [{ productId: product.id, quantity: 1 }] });
    await healthy.redis.del(stockKey(product.id));
    const refused = await healthy.purchaseService
      .purchase({ userId, items: [{ productId: product.id, quantity: 1 }] })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PurchaseLimitError);
    expect(await healthy.stock.peek(product.id)).toMatchObject({ available: 9, maxPerUser: 1 });
  });

  it('keeps the cap when the live store lost the product during a hot deal and rebuilt it', async () => {
    const productId = await capped(10, 1);
    const start = await api.request('POST', `/api/products/${productId}/hotdeal/start`, {
      token: admin,
      body: {},
    });
    expect(start.status).toBe(200);
    await healthy.redis.del(stockKey(productId));
    // An order finds the product gone and rebuilds the deal from DynamoDB.
    const buyer = await api.user('capdeal');
    const order = await api.request('POST', '/api/orders', {
      token: buyer.token,
      body: { product_id: productId, quantity: 1 },
    });
    expect(order.status).toBe(202);
    expect(await healthy.stock.peek(productId)).toMatchObject({ maxPerUser: 1 });
  });
});
