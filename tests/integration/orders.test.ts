/**
 * Hot deals against the real redis-server and DynamoDB Local: the two-phase order (202 PENDING →
 * confirm / cancel / expire), the buyer's cap, the deal window, races between the three outcomes of
 * one order, Redis losing a deal mid-way, and the end of a deal leaving DynamoDB exact.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrderRepository } from '../../shared/db/index.ts';
import type { OrderRecord } from '../../shared/model.ts';
import { countStatuses, type Reply, startTestApi, type TestApi } from '../support/api.ts';
import { services } from '../support/app.ts';
import { dynamo, flushAll } from '../support/services.ts';

let api: TestApi;
let admin: string;
beforeAll(async () => {
  api = await startTestApi();
  admin = await api.admin();
});
afterAll(() => api.close());

const app = () => services();

async function dealProduct(
  stock: number,
  deal: { max_per_user?: number; reservation_ttl_seconds?: number; ends_at?: string } = {},
) {
  const product = await api.product(stock, { price: 1500 });
  const started = await api.request('POST', `/api/products/${product.id}/hotdeal/start`, {
    token: admin,
    body: deal,
  });
  expect(started.status).toBe(200);
  return product;
}

const order = (token: string, product_id: number, quantity = 1) =>
  api.request('POST', '/api/orders', { token, body: { product_id, quantity } });
const act = (token: string, id: string, action: 'confirm' | 'cancel') =>
  api.request('POST', `/api/orders/${id}/${action}`, { token });

async function users(count: number) {
  const all = [];
  for (let i = 0; i < count; i += 50)
    all.push(...(await Promise.all(Array.from({ length: Math.min(50, count - i) }, () => api.user('deal')))));
  return all;
}

/**
 * The conservation invariant of a deal, from both stores: initial = available (Redis) + held +
 * reserved (Redis) + sold (durable purchases, confirmed orders included); the reservations are exactly
 * the PENDING orders; and DynamoDB's stock is initial − sold.
 */
async function conservation(productId: number) {
  const { redis, productTable, purchaseHistory } = await app();
  const [available, reservations, holds, product, sold, orders] = await Promise.all([
    redis.hget(`stock:{${productId}}`, 'available'),
    redis.hgetall(`reservations:{${productId}}`),
    redis.hvals(`holds:{${productId}}`),
    productTable.get(productId, true),
    purchaseHistory.unitsSold(productId),
    pendingOrders(productId),
  ]);
  const reserved = Object.values(reservations).reduce((sum, v) => sum + Number(v.split(':')[0]), 0);
  const held = holds.reduce((sum, v) => sum + Number(v.split(':')[0]), 0);
  return {
    initial: product?.initial_stock,
    accounted: Number(available) + held + reserved + sold,
    db_stock: product?.stock,
    durable: (product?.initial_stock ?? 0) - sold,
    reservedIds: Object.keys(reservations).sort(),
    pendingIds: orders.map((o) => o.id).sort(),
  };
}

const orderTable = new OrderRepository(dynamo(), 'orders', 'products', 'purchases');
const pendingOrders = (productId: number): Promise<OrderRecord[]> =>
  orderTable.listByProduct(productId, 'PENDING');

async function expectConserved(productId: number) {
  const c = await conservation(productId);
  expect(c.accounted).toBe(c.initial);
  expect(c.db_stock).toBe(c.durable);
  expect(c.reservedIds).toEqual(c.pendingIds);
}

describe('hot-deal orders over HTTP', () => {
  it('answers 202 PENDING with expires_at, shows the order to its owner only, and lists it in /orders/me', async () => {
    const product = await dealProduct(10, { reservation_ttl_seconds: 120 });
    const [buyer, other] = await users(2);
    const reply = await order(buyer!.token, product.id, 2);
    expect(reply.status).toBe(202);
    expect(reply.body).toEqual({
      id: expect.stringMatching(/^[0-9A-Z]{26}$/),
      product_id: product.id,
      quantity: 2,
      unit_price: 1500,
      total_price: 3000,
      status: 'PENDING',
      created_at: expect.any(String),
      expires_at: expect.any(String),
      updated_at: expect.any(String),
    });
    const ttl = Date.parse(reply.body.expires_at) - Date.parse(reply.body.created_at);
    expect(ttl).toBeGreaterThan(110_000);
    expect(ttl).toBeLessThan(130_000);

    const mine = await api.request('GET', `/api/orders/${reply.body.id}`, { token: buyer!.token });
    expect(mine).toMatchObject({ status: 200, body: reply.body });
    const list = await api.request('GET', '/api/orders/me', { token: buyer!.token });
    expect(list.body.map((o: { id: string }) => o.id)).toEqual([reply.body.id]);

    for (const path of [`/api/orders/${reply.body.id}`]) {
      const theirs = await api.request('GET', path, { token: other!.token });
      expect(theirs.status).toBe(404);
      expect(theirs.body.code).toBe('ORDER_NOT_FOUND');
    }
    for (const action of ['confirm', 'cancel'] as const) {
      const theirs = await act(other!.token, reply.body.id, action);
      expect(theirs.status).toBe(404);
    }
    expect((await api.request('GET', '/api/orders/me', { token: other!.token })).body).toEqual([]);
    await expectConserved(product.id);
  });

  it('confirms into a durable purchase (idempotently) and then refuses a cancel, saying CONFIRMED', async () => {
    const product = await dealProduct(5);
    const [buyer] = await users(1);
    const created = await order(buyer!.token, product.id, 2);
    const confirmed = await act(buyer!.token, created.body.id, 'confirm');
    expect(confirmed.status).toBe(200);
    expect(confirmed.body).toMatchObject({ id: created.body.id, status: 'CONFIRMED' });
    expect((await act(buyer!.token, created.body.id, 'confirm')).body.status).toBe('CONFIRMED');
    const cancel = await act(buyer!.token, created.body.id, 'cancel');
    expect(cancel.status).toBe(409);
    expect(cancel.body).toMatchObject({ code: 'ORDER_NOT_PENDING', status: 'CONFIRMED' });

    const purchases = await api.request('GET', '/api/purchases/me', { token: buyer!.token });
    expect(purchases.body).toEqual([
      expect.objectContaining({
        id: created.body.id,
        product_id: product.id,
        quantity: 2,
        total_price: 3000,
      }),
    ]);
    const stock = await api.request('GET', `/api/products/${product.id}/stock`, { token: admin });
    expect(stock.body).toMatchObject({ db_stock: 3, redis_stock: 3, synced: true });
    await expectConserved(product.id);
  });

  it('returns a cancelled order’s units and then refuses its confirm', async () => {
    const product = await dealProduct(3);
    const [buyer] = await users(1);
    const created = await order(buyer!.token, product.id, 3);
    expect((await order(buyer!.token, product.id, 1)).body.code).toBe('INSUFFICIENT_STOCK');
    const cancel = await act(buyer!.token, created.body.id, 'cancel');
    expect(cancel).toMatchObject({ status: 200, body: { status: 'CANCELLED' } });
    const confirm = await act(buyer!.token, created.body.id, 'confirm');
    expect(confirm.status).toBe(409);
    expect(confirm.body).toMatchObject({ code: 'ORDER_NOT_PENDING', status: 'CANCELLED' });
    expect((await order(buyer!.token, product.id, 3)).status).toBe(202);
    await expectConserved(product.id);
  });

  it('refuses orders while no deal is open: before the start, after the end and past ends_at', async () => {
    const [buyer] = await users(1);
    const plain = await api.product(5);
    expect((await order(buyer!.token, plain.id)).body.code).toBe('DEAL_NOT_ACTIVE');

    const ended = await dealProduct(5);
    await api.request('POST', `/api/products/${ended.id}/hotdeal/end`, { token: admin });
    const after = await order(buyer!.token, ended.id);
    expect(after.status).toBe(409);
    expect(after.body.code).toBe('DEAL_NOT_ACTIVE');

    // Inside the window: a deal that ends in an hour sells.
    const open = await dealProduct(5, { ends_at: new Date(Date.now() + 3_600_000).toISOString() });
    expect((await order(buyer!.token, open.id)).status).toBe(202);

    // Past the window, by Redis's clock. The API refuses an end in the past at the start, so the deal
    // is opened through the service with its end already behind the clock: no test waits on a timer.
    const past = await api.product(5, { price: 1500 });
    await (await app()).deals.start(past.id, { endsAt: new Date(Date.now() - 1_000).toISOString() });
    const late = await order(buyer!.token, past.id);
    expect(late.status).toBe(409);
    expect(late.body.code).toBe('DEAL_NOT_ACTIVE');
    const stock = await api.request('GET', `/api/products/${past.id}/stock`, { token: admin });
    expect(stock.body).toMatchObject({ db_stock: 5, redis_stock: 5 });
  });

  it('opens a deal with the defaults when the start request has no body at all', async () => {
    const product = await api.product(5, { strategy: 'atomic' });
    const started = await api.request('POST', `/api/products/${product.id}/hotdeal/start`, { token: admin });
    expect(started.status).toBe(200);
    const [buyer] = await users(1);
    expect((await order(buyer!.token, product.id)).status).toBe(202);
  });

  it('refuses a second start with 409 DEAL_ALREADY_ACTIVE and a deal on an unknown product with 404', async () => {
    const product = await dealProduct(5);
    const again = await api.request('POST', `/api/products/${product.id}/hotdeal/start`, {
      token: admin,
      body: {},
    });
    expect(again).toMatchObject({ status: 409, body: { code: 'DEAL_ALREADY_ACTIVE' } });
    const unknown = await api.request('POST', '/api/products/99999999/hotdeal/start', {
      token: admin,
      body: {},
    });
    expect(unknown.status).toBe(404);
    const [buyer] = await users(1);
    const notAdmin = await api.request('POST', `/api/products/${product.id}/hotdeal/end`, {
      token: buyer!.token,
    });
    expect(notAdmin.status).toBe(403);
  });
});

describe('a stampede on a hot deal', () => {
  it('turns 1,000 concurrent order requests on 100 units into exactly 100 PENDING and 900 refusals', async () => {
    const product = await dealProduct(100);
    const buyers = await users(200);
    const replies: Reply[] = await Promise.all(
      buyers.flatMap((b) => Array.from({ length: 5 }, () => order(b.token, product.id))),
    );
    expect(countStatuses(replies)).toEqual({ 202: 100, 400: 900 });
    for (const r of replies.filter((r) => r.status === 400)) expect(r.body.code).toBe('INSUFFICIENT_STOCK');
    expect(new Set(replies.filter((r) => r.status === 202).map((r) => r.body.id)).size).toBe(100);
    expect((await pendingOrders(product.id)).length).toBe(100);
    await expectConserved(product.id);
  });

  it('lets a buyer capped at 1 who sends 50 parallel orders reserve exactly one', async () => {
    const product = await dealProduct(100, { max_per_user: 1 });
    const [buyer, other] = await users(2);
    const replies = await Promise.all(Array.from({ length: 50 }, () => order(buyer!.token, product.id)));
    expect(countStatuses(replies)).toEqual({ 202: 1, 409: 49 });
    for (const r of replies.filter((r) => r.status === 409)) expect(r.body.code).toBe('PURCHASE_LIMIT');
    // Confirmed units still count toward the cap; cancelled ones do not.
    const mine = replies.find((r) => r.status === 202)!.body.id as string;
    await act(buyer!.token, mine, 'confirm');
    expect((await order(buyer!.token, product.id)).body.code).toBe('PURCHASE_LIMIT');
    const theirs = await order(other!.token, product.id);
    await act(other!.token, theirs.body.id, 'cancel');
    expect((await order(other!.token, product.id)).status).toBe(202);
    await expectConserved(product.id);
  });
});

describe('confirm, cancel and expiry of one order racing each other', () => {
  it('has exactly one winner in each of 300 rounds and returns units at most once', async () => {
    const product = await dealProduct(1_000);
    const { orders } = await app();
    const buyers = await users(10);
    const wins = { confirm: 0, cancel: 0, expire: 0 };
    const units = { confirm: 0, cancel: 0, expire: 0 };
    for (let round = 0; round < 300; round++) {
      const buyer = buyers[round % buyers.length]!;
      const created = await orders.create({
        userId: buyer.id,
        productId: product.id,
        quantity: 1 + (round % 3),
      });
      const [confirm, cancel, expire] = await Promise.allSettled([
        orders.confirm(buyer.id, created.id),
        orders.cancel(buyer.id, created.id),
        orders.expire(created, true),
      ]);
      const winners = [
        confirm.status === 'fulfilled' ? 'confirm' : null,
        cancel.status === 'fulfilled' ? 'cancel' : null,
        expire.status === 'fulfilled' && expire.value.won ? 'expire' : null,
      ].filter((w): w is keyof typeof wins => w !== null);
      expect(winners, `round ${round}`).toHaveLength(1);
      wins[winners[0]!] += 1;
      units[winners[0]!] += created.quantity;
      // The losers say what happened instead of failing blindly.
      for (const loser of [confirm, cancel].filter((r) => r.status === 'rejected'))
        expect((loser as PromiseRejectedResult).reason.name).toMatch(
          /OrderNotPendingError|OrderExpiredError/,
        );
      const final = await orders.get(buyer.id, created.id);
      expect(final.status).toBe(
        { confirm: 'CONFIRMED', cancel: 'CANCELLED', expire: 'EXPIRED' }[winners[0]!],
      );
      await expectConserved(product.id);
    }
    // Units went back exactly once per cancelled or expired order and never for a confirmed one: what
    // is left, in Redis and in DynamoDB, is the initial stock less the confirmed units alone.
    const { productTable, purchaseHistory, redis } = await app();
    expect(Number(await redis.hget(`stock:{${product.id}}`, 'available'))).toBe(1_000 - units.confirm);
    expect((await productTable.get(product.id, true))?.stock).toBe(1_000 - units.confirm);
    expect(await purchaseHistory.unitsSold(product.id)).toBe(units.confirm);
  }, 180_000);

  it('expires late confirms on demand (409 ORDER_EXPIRED) while the reconciler expires the rest, units back once', async () => {
    const product = await dealProduct(40, { reservation_ttl_seconds: 1 });
    const buyers = await users(20);
    const created = await Promise.all(buyers.map((b) => order(b.token, product.id, 2)));
    expect(countStatuses(created)).toEqual({ 202: 20 });
    await sleep(1_100);
    const { reconciler, productTable } = await app();
    const record = (await productTable.get(product.id, true))!;
    const [confirms] = await Promise.all([
      Promise.all(buyers.slice(0, 10).map((b, i) => act(b.token, created[i]!.body.id, 'confirm'))),
      reconciler.reconcileProduct(record),
    ]);
    for (const r of confirms) expect(r.body.code).toBe('ORDER_EXPIRED');
    await reconciler.reconcileProduct(record);
    const mine = await api.request('GET', `/api/orders/${created[15]!.body.id}`, {
      token: buyers[15]!.token,
    });
    expect(mine.body.status).toBe('EXPIRED');
    const stock = await api.request('GET', `/api/products/${product.id}/stock`, { token: admin });
    expect(stock.body).toMatchObject({ db_stock: 40, redis_stock: 40 });
    await expectConserved(product.id);
  });

  it('gives units an expired order returned to a later buyer', async () => {
    const product = await dealProduct(1, { reservation_ttl_seconds: 1 });
    const [first, later] = await users(2);
    const held = await order(first!.token, product.id);
    expect(held.status).toBe(202);
    expect((await order(later!.token, product.id)).body.code).toBe('INSUFFICIENT_STOCK');
    await sleep(1_100);
    const { reconciler, productTable } = await app();
    const summary = await reconciler.reconcileProduct((await productTable.get(product.id, true))!);
    expect(summary.reservationsSettled).toBe(1);
    const second = await order(later!.token, product.id);
    expect(second.status).toBe(202);
    expect((await act(later!.token, second.body.id, 'confirm')).body.status).toBe('CONFIRMED');
    expect((await act(first!.token, held.body.id, 'confirm')).body.code).toBe('ORDER_EXPIRED');
    await expectConserved(product.id);
  });
});

describe('Redis losing a deal mid-way', () => {
  it('is rebuilt from DynamoDB by the reconciler: available, reservations and the caps exactly', async () => {
    const product = await dealProduct(20, { max_per_user: 2 });
    const buyers = await users(7);
    const pending = await Promise.all(buyers.slice(0, 5).map((b) => order(b.token, product.id, 2)));
    for (const b of buyers.slice(5)) {
      const o = await order(b.token, product.id, 1);
      await act(b.token, o.body.id, 'confirm');
    }
    const before = await conservation(product.id);
    const { redis, reconciler } = await app();
    await flushAll(redis);

    const summary = await reconciler.reconcileAll();
    expect(summary.restored).toBeGreaterThan(0);
    const after = await conservation(product.id);
    expect(after).toEqual(before);
    expect(Number(await redis.hget(`stock:{${product.id}}`, 'available'))).toBe(20 - 2 - 10);
    expect(await redis.hget(`dealusers:{${product.id}}`, String(buyers[0]!.id))).toBe('2');

    // The caps and the reservations work as before the loss.
    expect((await order(buyers[0]!.token, product.id)).body.code).toBe('PURCHASE_LIMIT');
    expect((await act(buyers[0]!.token, pending[0]!.body.id, 'confirm')).body.status).toBe('CONFIRMED');
    expect((await act(buyers[1]!.token, pending[1]!.body.id, 'cancel')).body.status).toBe('CANCELLED');
    await expectConserved(product.id);
    const audit = (await reconciler.verify()).products.find((p) => p.product_id === product.id);
    expect(audit).toMatchObject({ ok: true, reserved: 6, sold: 4 });
  });

  it('is rebuilt on demand by the next order, without handing reserved units out twice', async () => {
    const product = await dealProduct(4);
    const buyers = await users(4);
    await order(buyers[0]!.token, product.id, 3);
    const { redis } = await app();
    await flushAll(redis);
    expect((await order(buyers[1]!.token, product.id, 2)).body.code).toBe('INSUFFICIENT_STOCK');
    expect((await order(buyers[2]!.token, product.id, 1)).status).toBe(202);
    await expectConserved(product.id);
  });
});

describe('the end of a deal', () => {
  it('expires the open orders, returns their units and leaves DynamoDB and Redis exact', async () => {
    const product = await dealProduct(50);
    const buyers = await users(10);
    const orders = await Promise.all(buyers.map((b) => order(b.token, product.id, 2)));
    for (let i = 0; i < 4; i++) await act(buyers[i]!.token, orders[i]!.body.id, 'confirm');
    for (let i = 4; i < 6; i++) await act(buyers[i]!.token, orders[i]!.body.id, 'cancel');
    // While the deal runs its units are sold only through its orders (its window and its cap).
    const buy = () =>
      api.request('POST', '/api/purchases', {
        token: buyers[9]!.token,
        body: { product_id: product.id, quantity: 3 },
      });
    const refused = await buy();
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'DEAL_ACTIVE', product_ids: [product.id] });
    expect(typeof refused.body.detail).toBe('string');

    const ended = await api.request('POST', `/api/products/${product.id}/hotdeal/end`, { token: admin });
    expect(ended.status).toBe(200);
    expect(ended.body).toEqual({
      product_id: product.id,
      released: 8,
      confirmed: 8,
      db_stock: 42,
      redis_stock: 42,
    });
    // Over: an ordinary product again.
    expect((await buy()).status).toBe(200);
    for (let i = 6; i < 10; i++) {
      const o = await api.request('GET', `/api/orders/${orders[i]!.body.id}`, { token: buyers[i]!.token });
      expect(o.body.status).toBe('EXPIRED');
    }
    const audit = await api.request('GET', '/api/admin/inventory/verify', { token: admin });
    expect(audit.body.products.find((p: { product_id: number }) => p.product_id === product.id)).toEqual({
      product_id: product.id,
      initial_stock: 50,
      adjusted: 0,
      sold: 11,
      db_stock: 39,
      redis_stock: 39,
      held: 0,
      reserved: 0,
      ok: true,
    });
    const product2 = await api.request('GET', `/api/products/${product.id}`, { token: admin });
    expect(product2.body.stock).toBe(39);
    await expectConserved(product.id);
  });
});
