/**
 * Hot deals on a sharded product (stock_shards K > 1): the deal's start pools every shard's units on
 * the product item, its orders then gate on it as on an unsharded product, and its end spreads what
 * is left back over the shards. Races over the real handler path, the shard items read straight
 * from DynamoDB Local and the shard counters from Redis.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProductRepository, shardItemId } from '../../shared/db/products.ts';
import type { DealState } from '../../shared/model.ts';
import { countStatuses, type Reply, startTestApi, type TestApi } from '../support/api.ts';
import { services } from '../support/app.ts';
import { dynamo, flushAll, stack } from '../support/services.ts';

const K = 8;
let api: TestApi;
let admin: string;
let buyers: { id: number; token: string }[];
const doc = dynamo();

beforeAll(async () => {
  api = await startTestApi();
  admin = await api.admin();
  buyers = [];
  for (let i = 0; i < 300; i += 50)
    buyers.push(...(await Promise.all(Array.from({ length: 50 }, () => api.user('sharddeal')))));
}, 120_000);
afterAll(() => api.close());

const buy = (token: string, product_id: number, quantity = 1) =>
  api.request('POST', '/api/purchases', { token, body: { product_id, quantity } });
const order = (token: string, product_id: number, quantity = 1) =>
  api.request('POST', '/api/orders', { token, body: { product_id, quantity } });
const act = (token: string, id: string, action: 'confirm' | 'cancel') =>
  api.request('POST', `/api/orders/${id}/${action}`, { token });
const start = (productId: number) =>
  api.request('POST', `/api/products/${productId}/hotdeal/start`, { token: admin, body: {} });
const end = (productId: number) =>
  api.request('POST', `/api/products/${productId}/hotdeal/end`, { token: admin });

/** Each shard item's durable stock, and the product item's own (the deal's pool; absent: null). */
async function durable(productId: number): Promise<{ shards: number[]; pooled: number | null }> {
  const read = async (id: number) =>
    (await doc.send(new GetCommand({ TableName: 'products', Key: { id }, ConsistentRead: true }))).Item;
  const shards = await Promise.all(
    Array.from({ length: K }, async (_, shard) => Number((await read(shardItemId(productId, shard)))?.stock)),
  );
  const pooled = (await read(productId))?.stock;
  return { shards, pooled: pooled === undefined ? null : Number(pooled) };
}

/** Redis's shard counters and available. */
async function live(productId: number): Promise<{ shards: number[]; available: number }> {
  const { redis } = await services();
  const fields = Array.from({ length: K }, (_, i) => `s${i}`);
  const [available, ...shards] = await redis.hmget(`stock:{${productId}}`, 'available', ...fields);
  return { available: Number(available), shards: shards.map(Number) };
}

async function audited(productId: number) {
  const audit = await api.request('GET', '/api/admin/inventory/verify', { token: admin });
  return audit.body.products.find((p: { product_id: number }) => p.product_id === productId);
}

const sum = (units: readonly number[]) => units.reduce((a, b) => a + b, 0);

describe('a hot deal on a K = 8 product', () => {
  it('pools the shards, admits exactly 100 of 300 racing orders, and after its end sells exactly the rest across the shards', async () => {
    const product = await api.product(100, { stockShards: K, price: 1500 });
    const started = await start(product.id);
    expect(started.status).toBe(200);
    expect(started.body).toMatchObject({ db_stock: 100, redis_stock: 100 });
    // The whole stock is the deal's, on the product item; the shards and their counters hold none.
    expect(await durable(product.id)).toEqual({ shards: Array(K).fill(0), pooled: 100 });
    expect(await live(product.id)).toEqual({ shards: Array(K).fill(0), available: 100 });

    const orders: Reply[] = await Promise.all(buyers.map((b) => order(b.token, product.id)));
    expect(countStatuses(orders)).toEqual({ 202: 100, 400: 200 });
    const pending = buyers.flatMap((b, i) =>
      orders[i]?.status === 202 ? [{ b, id: orders[i].body.id }] : [],
    );
    const confirms = await Promise.all(pending.slice(0, 30).map(({ b, id }) => act(b.token, id, 'confirm')));
    expect(confirms.every((r) => r.body.status === 'CONFIRMED')).toBe(true);
    const cancels = await Promise.all(pending.slice(30, 50).map(({ b, id }) => act(b.token, id, 'cancel')));
    expect(cancels.every((r) => r.body.status === 'CANCELLED')).toBe(true);

    // A plain purchase of a product on a deal: refused by the deal's gate.
    const plain = await buy(buyers[0]!.token, product.id);
    expect(plain.status).toBe(409);
    expect(plain.body).toMatchObject({ code: 'DEAL_ACTIVE', product_ids: [product.id] });
    // Mid-deal the ledger holds: 30 sold, 50 reserved, 20 free of 70 on the product item.
    expect(await audited(product.id)).toMatchObject({
      initial_stock: 100,
      sold: 30,
      db_stock: 70,
      redis_stock: 20,
      reserved: 50,
      ok: true,
    });

    const ended = await end(product.id);
    expect(ended.status).toBe(200);
    expect(ended.body).toEqual({
      product_id: product.id,
      released: 50,
      confirmed: 30,
      db_stock: 70,
      redis_stock: 70,
    });
    // Back on the shards, the product item's pool gone, Redis = DynamoDB shard by shard.
    const after = await durable(product.id);
    expect(after.pooled).toBeNull();
    expect(sum(after.shards)).toBe(70);
    expect(after.shards.every((u) => u >= 0)).toBe(true);
    expect(await live(product.id)).toEqual({ shards: after.shards, available: 70 });
    expect(await audited(product.id)).toMatchObject({ sold: 30, db_stock: 70, redis_stock: 70, ok: true });

    // An ordinary sharded product again: 300 racing buyers get exactly the 70 units left.
    const sales: Reply[] = await Promise.all(buyers.map((b) => buy(b.token, product.id)));
    expect(countStatuses(sales)).toEqual({ 200: 70, 400: 230 });
    expect(await durable(product.id)).toEqual({ shards: Array(K).fill(0), pooled: null });
    expect(await live(product.id)).toEqual({ shards: Array(K).fill(0), available: 0 });
    expect(await audited(product.id)).toMatchObject({
      initial_stock: 100,
      adjusted: 0,
      sold: 100,
      db_stock: 0,
      redis_stock: 0,
      held: 0,
      reserved: 0,
      ok: true,
      db_shards: Array(K).fill(0),
    });
    // The reconciler agrees: nothing to repair.
    const { reconciler, productTable } = await services();
    const tally = await reconciler.reconcileProduct((await productTable.get(product.id, true))!);
    expect(tally).toMatchObject({ drift: 0, repaired: 0, restored: 0, oversold: 0 });
  }, 120_000);

  it.each([0, 1, 20])(
    'never oversells to plain purchases racing the deal start (started once %i sales answered)',
    async (answered) => {
      const product = await api.product(100, { stockShards: K, price: 1500 });
      let done = 0;
      const racing = buyers.slice(0, 150).map((b) => buy(b.token, product.id).finally(() => (done += 1)));
      while (done < answered) await sleep(1);
      const [startReply, ...plain] = await Promise.all([start(product.id), ...racing]);
      expect(startReply?.status).toBe(200);
      const sold = plain.filter((r) => r.status === 200).length;
      // Each refusal says why: the deal's, or sold out (a write that met its shard already pooled).
      for (const r of plain.filter((r) => r.status !== 200))
        expect(['DEAL_ACTIVE', 'INSUFFICIENT_STOCK']).toContain(r.body.code);
      // Every unit no plain purchase got is the deal's: once the reconciler has aligned Redis with
      // DynamoDB (a purchase durable but still held at the start counts as taken), orders get them all.
      const { reconciler, productTable } = await services();
      await reconciler.reconcileProduct((await productTable.get(product.id, true))!);
      const orders: Reply[] = await Promise.all(
        buyers.slice(150, 300).map((b) => order(b.token, product.id)),
      );
      const admitted = orders.filter((r) => r.status === 202).length;
      expect(sold + admitted).toBe(100);
      for (const [i, r] of orders.entries())
        if (r.status === 202) await act(buyers[150 + i]!.token, r.body.id, 'confirm');
      expect((await end(product.id)).body).toMatchObject({ db_stock: 0, redis_stock: 0 });
      expect(await durable(product.id)).toEqual({ shards: Array(K).fill(0), pooled: null });
      expect(await audited(product.id)).toMatchObject({ sold: 100, db_stock: 0, redis_stock: 0, ok: true });
    },
    120_000,
  );

  it('puts adjustments during the deal into its pool, and spreads them over the shards at the end', async () => {
    const product = await api.product(16, { stockShards: K, price: 1500 });
    expect((await start(product.id)).status).toBe(200);
    const adjust = (delta: number) =>
      api.request('POST', `/api/admin/products/${product.id}/stock-adjustments`, {
        token: admin,
        body: { delta, reason: 'recount' },
      });
    expect((await adjust(8)).status).toBe(200);
    expect((await adjust(-4)).status).toBe(200);
    expect(await durable(product.id)).toEqual({ shards: Array(K).fill(0), pooled: 20 });
    expect(await live(product.id)).toEqual({ shards: Array(K).fill(0), available: 20 });
    const o = await order(buyers[0]!.token, product.id, 5);
    expect(o.status).toBe(202);
    expect((await act(buyers[0]!.token, o.body.id, 'confirm')).body.status).toBe('CONFIRMED');
    expect((await end(product.id)).body).toMatchObject({ db_stock: 15, redis_stock: 15 });
    const after = await durable(product.id);
    expect(after).toEqual({ shards: [2, 2, 2, 2, 2, 2, 2, 1], pooled: null });
    expect(await live(product.id)).toEqual({ shards: after.shards, available: 15 });
    expect(await audited(product.id)).toMatchObject({ adjusted: 4, sold: 5, db_stock: 15, ok: true });
  });

  it('is rebuilt by the reconciler after Redis lost it mid-deal, and its end still restores the shards', async () => {
    const product = await api.product(40, { stockShards: K, price: 1500 });
    expect((await start(product.id)).status).toBe(200);
    const first = await order(buyers[0]!.token, product.id, 3);
    await order(buyers[1]!.token, product.id, 2);
    await act(buyers[0]!.token, first.body.id, 'confirm');
    const { redis, reconciler } = await services();
    await flushAll(redis);
    expect((await reconciler.reconcileAll()).restored).toBeGreaterThan(0);
    expect(await live(product.id)).toEqual({ shards: Array(K).fill(0), available: 35 });
    // Still on its deal: a plain purchase is refused, an order gets in.
    expect((await buy(buyers[2]!.token, product.id)).body.code).toBe('DEAL_ACTIVE');
    expect((await order(buyers[3]!.token, product.id, 1)).status).toBe(202);
    expect(await audited(product.id)).toMatchObject({ sold: 3, db_stock: 37, reserved: 3, ok: true });
    expect((await end(product.id)).body).toMatchObject({ released: 3, db_stock: 37, redis_stock: 37 });
    const after = await durable(product.id);
    expect(after.pooled).toBeNull();
    expect(await live(product.id)).toEqual({ shards: after.shards, available: 37 });
    expect((await reconciler.reconcileAll()).repaired).toBe(0);
  });

  it('gives a removal still held at the end the fullest shards, so its release puts the units back there', async () => {
    const product = await api.product(16, { stockShards: K, price: 1500 });
    expect((await start(product.id)).status).toBe(200);
    // A removal's hold taken during the deal comes from the pool: it names no shard.
    const { stock, redis } = stack();
    expect(await stock.withdraw(product.id, 5, 'held-at-end')).toMatchObject({ status: 'reserved' });
    expect((await end(product.id)).body).toMatchObject({ db_stock: 16, redis_stock: 11 });
    expect(await live(product.id)).toEqual({ shards: [0, 0, 1, 2, 2, 2, 2, 2], available: 11 });
    expect(await redis.hget(`holds:{${product.id}}`, 'held-at-end')).toMatch(/^5:\d+:0\.2,1\.2,2\.1$/);
    expect(await stock.release(product.id, 'held-at-end')).toBe('released');
    expect(await live(product.id)).toEqual({ shards: Array(K).fill(2), available: 16 });
    expect(await audited(product.id)).toMatchObject({ db_stock: 16, redis_stock: 16, held: 0, ok: true });
  });

  it('finishes an end that died before returning the pool at the next reconciler pass, and deletes such a product whole', async () => {
    const products = new ProductRepository(doc, 'products');
    const { redis, reconciler, productTable } = await services();
    const crashed = async (stock: number) => {
      const product = await api.product(stock, { stockShards: K, price: 1500 });
      const started = await start(product.id);
      // The end's first steps alone: closed in Redis and DynamoDB, nothing reserved, pool still there.
      await redis.hset(`deal:{${product.id}}`, 'open', 0);
      await products.closeDeal(product.id, new Date().toISOString(), started.body.deal.generation);
      expect(await durable(product.id)).toEqual({ shards: Array(K).fill(0), pooled: stock });
      return product;
    };
    const first = await crashed(16);
    await reconciler.reconcileProduct((await productTable.get(first.id, true))!);
    expect(await durable(first.id)).toEqual({ shards: Array(K).fill(2), pooled: null });
    expect(await live(first.id)).toEqual({ shards: Array(K).fill(2), available: 16 });
    expect((await buy(buyers[0]!.token, first.id, 3)).status).toBe(200);
    expect(await audited(first.id)).toMatchObject({ sold: 3, db_stock: 13, redis_stock: 13, ok: true });

    const second = await crashed(8);
    expect((await api.request('DELETE', `/api/products/${second.id}`, { token: admin })).status).toBe(204);
    const gone = await durable(second.id);
    expect(gone.pooled).toBeNull();
    expect(gone.shards.every(Number.isNaN)).toBe(true);
  });

  it('resumes a start that died after DynamoDB pooled the shards, and a second deal pools again', async () => {
    const product = await api.product(24, { stockShards: K, price: 1500 });
    const deal: DealState = {
      status: 'open',
      ends_at: null,
      max_per_user: null,
      reservation_ttl_seconds: 600,
      started_at: new Date().toISOString(),
      ended_at: null,
      generation: 1,
    };
    // Step 1 alone, as a start that crashed before Redis heard of it.
    const opened = await new ProductRepository(doc, 'products').openDeal(product.id, deal, 0);
    expect(opened.status).toBe('opened');
    expect(await live(product.id)).toMatchObject({ available: 24 });
    const resumed = await start(product.id);
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ db_stock: 24, redis_stock: 24, deal: { generation: 1 } });
    expect(await live(product.id)).toEqual({ shards: Array(K).fill(0), available: 24 });
    expect((await end(product.id)).body).toMatchObject({ db_stock: 24, redis_stock: 24 });
    expect((await start(product.id)).body).toMatchObject({ db_stock: 24, deal: { generation: 2 } });
    expect(await durable(product.id)).toEqual({ shards: Array(K).fill(0), pooled: 24 });
    expect((await end(product.id)).status).toBe(200);
    expect(await durable(product.id)).toEqual({ shards: [3, 3, 3, 3, 3, 3, 3, 3], pooled: null });
    expect(await audited(product.id)).toMatchObject({ db_stock: 24, redis_stock: 24, ok: true });
  });
});
