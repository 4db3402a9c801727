/**
 * Sharded durable stock (stock_shards K > 1): the stock of one product split across K DynamoDB
 * items, each sale written to the shard its Redis hold took the units from. Races over the real
 * handler path, then the shard items read straight from DynamoDB Local.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardItemId } from '../../shared/db/products.ts';
import { holdsKey, stockKey } from '../../shared/stock/index.ts';
import { countStatuses, type Reply, startTestApi, type TestApi } from '../support/api.ts';
import { dynamo, stack } from '../support/services.ts';

let api: TestApi;
let buyers: { id: number; token: string }[];
const doc = dynamo();

beforeAll(async () => {
  api = await startTestApi();
  buyers = [];
  for (let i = 0; i < 300; i += 50) {
    buyers.push(...(await Promise.all(Array.from({ length: 50 }, () => api.user('shard')))));
  }
}, 120_000);
afterAll(() => api.close());

const buy = (token: string, product_id: number, quantity = 1) =>
  api.request('POST', '/api/purchases', { token, body: { product_id, quantity } });

/** Each shard item's durable stock, read from DynamoDB Local. */
async function shardItems(productId: number, shards: number): Promise<number[]> {
  return Promise.all(
    Array.from({ length: shards }, async (_, shard) => {
      const { Item } = await doc.send(
        new GetCommand({
          TableName: 'products',
          Key: { id: shardItemId(productId, shard) },
          ConsistentRead: true,
        }),
      );
      return Number(Item?.stock);
    }),
  );
}

async function verified(productId: number) {
  const audit = await api.request('GET', '/api/admin/inventory/verify', { token: await api.admin() });
  return audit.body.products.find((p: { product_id: number }) => p.product_id === productId);
}

async function stockOf(productId: number) {
  return (await api.request('GET', `/api/products/${productId}/stock`, { token: await api.admin() })).body;
}

describe('stock_shards on creation', () => {
  it('shows stock_shards in the product body: the given K, or 1 by default', async () => {
    const admin = await api.admin();
    const sharded = await api.request('POST', '/api/products', {
      token: admin,
      body: { name: 'hot', price: 10, stock: 100, stock_shards: 8 },
    });
    expect(sharded.status).toBe(201);
    expect(sharded.body).toMatchObject({ stock: 100, redis_stock: 100, stock_shards: 8 });
    expect(await shardItems(sharded.body.id, 8)).toEqual([13, 13, 13, 13, 12, 12, 12, 12]);
    const plain = await api.request('POST', '/api/products', {
      token: admin,
      body: { name: 'calm', price: 10, stock: 5 },
    });
    expect(plain.body.stock_shards).toBe(1);
    // K = 1 is today's design: the product item carries the stock, and no shard item exists.
    const { Item } = await doc.send(
      new GetCommand({ TableName: 'products', Key: { id: shardItemId(plain.body.id, 0) } }),
    );
    expect(Item).toBeUndefined();
    expect(
      (await api.request('GET', `/api/products/${sharded.body.id}`, { token: admin })).body,
    ).toMatchObject({
      stock: 100,
      stock_shards: 8,
    });
  });

  it.each([0, 65, 2.5, '8'])('refuses stock_shards %s with 422 naming the field', async (stock_shards) => {
    const reply = await api.request('POST', '/api/products', {
      token: await api.admin(),
      body: { name: 'bad', price: 10, stock: 5, stock_shards },
    });
    expect(reply.status).toBe(422);
    expect(reply.body).toMatchObject({
      code: expect.any(String),
      detail: expect.stringContaining('stock_shards'),
    });
  });
});

describe.each(['lock', 'atomic'] as const)('%s strategy, K = 8', (strategy) => {
  it('sells exactly 100 of 100 units to 300 racing buyers; every shard ends at zero, none below', async () => {
    const product = await api.product(100, { strategy, stockShards: 8 });
    const replies = await Promise.all(buyers.map((b) => buy(b.token, product.id)));
    expect(countStatuses(replies)).toEqual({ 200: 100, 400: 200 });
    expect(await shardItems(product.id, 8)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(await stockOf(product.id)).toMatchObject({ db_stock: 0, redis_stock: 0, synced: true });
    expect(await verified(product.id)).toMatchObject({
      initial_stock: 100,
      sold: 100,
      db_stock: 0,
      redis_stock: 0,
      held: 0,
      ok: true,
      db_shards: [0, 0, 0, 0, 0, 0, 0, 0],
    });
  });

  it('tells no buyer "sold out" while the shards together still hold the quantity', async () => {
    // Buyers of 1, 2 and 3 units race for 100 units: near the end the shards hold 1–2 each, and a
    // buyer of 3 is still served from several shards at once.
    const product = await api.product(100, { strategy, stockShards: 8 });
    const wants = buyers.slice(0, 120).map((_, i) => 1 + (i % 3));
    const replies: Reply[] = await Promise.all(
      buyers.slice(0, 120).map((b, i) => buy(b.token, product.id, wants[i])),
    );
    const sold = replies.reduce((sum, r, i) => sum + (r.status === 200 ? (wants[i] ?? 0) : 0), 0);
    const refused = replies.flatMap((r, i) =>
      r.status === 200 ? [] : [{ wants: wants[i] ?? 0, body: r.body }],
    );
    expect(replies.every((r) => r.status === 200 || r.status === 400)).toBe(true);
    for (const { wants, body } of refused) {
      expect(body.code).toBe('INSUFFICIENT_STOCK');
      expect(body.available).toBeLessThan(wants);
    }
    const left = await shardItems(product.id, 8);
    expect(left.every((units) => units >= 0)).toBe(true);
    expect(sold + left.reduce((a, b) => a + b, 0)).toBe(100);
    expect(await verified(product.id)).toMatchObject({ sold, ok: true });
  });
});

it('serves a quantity no single shard holds from several shards, in one transaction', async () => {
  const product = await api.product(12, { strategy: 'atomic', stockShards: 8 });
  expect(await shardItems(product.id, 8)).toEqual([2, 2, 2, 2, 1, 1, 1, 1]);
  const [first, second] = buyers;
  expect((await buy(first!.token, product.id, 5)).status).toBe(200);
  expect((await buy(second!.token, product.id, 7)).status).toBe(200);
  expect(await shardItems(product.id, 8)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  expect(await verified(product.id)).toMatchObject({ sold: 12, db_stock: 0, redis_stock: 0, ok: true });
});

it('sells a cart with a sharded line all or nothing', async () => {
  const sharded = await api.product(5, { strategy: 'atomic', stockShards: 4 });
  const single = await api.product(3, { strategy: 'lock' });
  const cart = (token: string, shardedUnits: number) =>
    api.request('POST', '/api/purchases', {
      token,
      body: {
        items: [
          { product_id: sharded.id, quantity: shardedUnits },
          { product_id: single.id, quantity: 1 },
        ],
      },
    });
  // Ten carts race for three units of the unsharded line: exactly three land, each with its shard unit.
  const replies = await Promise.all(buyers.slice(0, 10).map((b) => cart(b.token, 1)));
  expect(countStatuses(replies)).toEqual({ 200: 3, 400: 7 });
  expect(await stockOf(sharded.id)).toMatchObject({ db_stock: 2, redis_stock: 2, synced: true });
  expect(await stockOf(single.id)).toMatchObject({ db_stock: 0, redis_stock: 0, synced: true });
  const shards = await shardItems(sharded.id, 4);
  expect(shards.reduce((a, b) => a + b, 0)).toBe(2);
  // A cart the sharded line cannot cover leaves no trace on either product.
  const more = await api.product(1, { strategy: 'atomic' });
  const refused = await api.request('POST', '/api/purchases', {
    token: buyers[20]!.token,
    body: {
      items: [
        { product_id: sharded.id, quantity: 3 },
        { product_id: more.id, quantity: 1 },
      ],
    },
  });
  expect(refused.status).toBe(400);
  expect(await shardItems(sharded.id, 4)).toEqual(shards);
  expect(await stockOf(more.id)).toMatchObject({ db_stock: 1, redis_stock: 1 });
});

it('spreads admin adjustments over the shards and keeps the audit exact', async () => {
  const product = await api.product(16, { strategy: 'lock', stockShards: 4 });
  const admin = await api.admin();
  const adjust = (delta: number) =>
    api.request('POST', `/api/admin/products/${product.id}/stock-adjustments`, {
      token: admin,
      body: { delta, reason: 'test' },
    });
  expect((await adjust(6)).body).toMatchObject({ db_stock: 22, redis_stock: 22 });
  expect(await shardItems(product.id, 4)).toEqual([6, 6, 5, 5]);
  expect((await adjust(-7)).body).toMatchObject({ db_stock: 15, redis_stock: 15 });
  expect((await shardItems(product.id, 4)).reduce((a, b) => a + b, 0)).toBe(15);
  expect((await adjust(-16)).status).toBe(400);
  expect(await verified(product.id)).toMatchObject({ adjusted: -1, db_stock: 15, redis_stock: 15, ok: true });
});

it('puts a new price on every shard, so a sale at the new price lands; a delete takes the shards too', async () => {
  const product = await api.product(8, { strategy: 'atomic', stockShards: 4, price: 100 });
  const admin = await api.admin();
  const patched = await api.request('PATCH', `/api/products/${product.id}`, {
    token: admin,
    body: { price: 150 },
  });
  expect(patched.body).toMatchObject({ price: 150, stock: 8, stock_shards: 4 });
  const sold = await buy(buyers[0]!.token, product.id, 2);
  expect(sold.status).toBe(200);
  expect(sold.body.total_price).toBe(300);
  expect((await api.request('DELETE', `/api/products/${product.id}`, { token: admin })).status).toBe(204);
  const { Item } = await doc.send(
    new GetCommand({ TableName: 'products', Key: { id: shardItemId(product.id, 0) } }),
  );
  expect(Item).toBeUndefined();
});

it('opens a hot deal on a sharded product by pooling its shards (shard-deals.test.ts has the rest)', async () => {
  const product = await api.product(10, { stockShards: 2 });
  const reply = await api.request('POST', `/api/products/${product.id}/hotdeal/start`, {
    token: await api.admin(),
    body: {},
  });
  expect(reply.status).toBe(200);
  expect(reply.body).toMatchObject({ db_stock: 10, redis_stock: 10 });
  expect(await shardItems(product.id, 2)).toEqual([0, 0]);
});

describe.each(['lock', 'atomic'] as const)('%s strategy: a cart past one transaction', (strategy) => {
  it('refuses a cart whose held units span more than 100 writes with 409 STOCK_TOO_SPREAD, writing nothing; each product alone sells', async () => {
    // Three products of 64 shards with one unit each: 40 units of each is 40 shard writes per line,
    // 1 + 3 line rows + 120 decrements in all, past DynamoDB's 100 items in one transaction.
    const products = await Promise.all([0, 1, 2].map(() => api.product(64, { strategy, stockShards: 64 })));
    const [buyer] = buyers;
    if (!buyer) throw new Error('no buyer');
    const cart = await api.request('POST', '/api/purchases', {
      token: buyer.token,
      body: { items: products.map((p) => ({ product_id: p.id, quantity: 40 })) },
    });
    expect(cart.status).toBe(409);
    expect(cart.body.code).toBe('STOCK_TOO_SPREAD');
    expect(cart.body.detail).toContain('in a purchase of');
    for (const p of products) {
      // Nothing written, the holds given back to the shards they came from.
      expect(await shardItems(p.id, 64)).toEqual(Array.from({ length: 64 }, () => 1));
      expect(await stockOf(p.id)).toMatchObject({ db_stock: 64, redis_stock: 64 });
    }
    const mine = await api.request('GET', '/api/purchases/me', { token: buyer.token });
    expect(
      mine.body.filter((x: { items: { product_id: number }[] }) =>
        x.items.some((i) => i.product_id === products[0]?.id),
      ),
    ).toEqual([]);
    // One product per purchase always fits (at most 64 shard writes): the same units sell.
    for (const p of products) expect((await buy(buyer.token, p.id, 40)).status).toBe(200);
    for (const p of products) {
      const left = await shardItems(p.id, 64);
      expect(left.reduce((a, b) => a + b, 0)).toBe(24);
      expect(await verified(p.id)).toMatchObject({ sold: 40, ok: true });
    }
  });
});

describe('reconciler', () => {
  it('restores a lost sharded product shard by shard from DynamoDB, and sells on', async () => {
    const { catalog, stock, redis, reconciler, purchaseService } = stack();
    const product = await catalog.create({ name: 'hot', price: 10, stock: 20, stock_shards: 4 });
    await purchaseService.purchase({ userId: 1, items: [{ productId: product.id, quantity: 3 }] });
    await purchaseService.purchase({ userId: 2, items: [{ productId: product.id, quantity: 4 }] });
    const durable = await shardItems(product.id, 4);
    await redis.del(stockKey(product.id), holdsKey(product.id));
    await reconciler.reconcileAll();
    const live = await stock.peek(product.id);
    expect(live).toMatchObject({ available: 13, shards: durable });
    await purchaseService.purchase({ userId: 3, items: [{ productId: product.id, quantity: 13 }] });
    expect(await shardItems(product.id, 4)).toEqual([0, 0, 0, 0]);
  });

  it('sets shard counters that disagree with their shard items back, even when the total agrees', async () => {
    const { catalog, stock, redis, reconciler } = stack();
    const product = await catalog.create({ name: 'hot', price: 10, stock: 8, stock_shards: 4 });
    // The total still says 8, but shard 0 claims units shard 1 does not have.
    await redis.hset(stockKey(product.id), 's0', 4, 's1', 0);
    const summary = await reconciler.reconcileAll();
    expect(summary.repaired).toBeGreaterThanOrEqual(1);
    expect(await stock.peek(product.id)).toMatchObject({ available: 8, shards: [2, 2, 2, 2] });
  });
});
