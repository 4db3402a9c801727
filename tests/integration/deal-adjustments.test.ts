/**
 * Stock adjustments while a hot deal runs, over real HTTP, the real handlers, redis-server and
 * DynamoDB Local: added units are orderable at once, removed ones come only from the deal's free
 * units (never a PENDING order's, never a confirmed one), and after any race of orders, confirms and
 * adjustments every unit is accounted for, Redis = DynamoDB, and the audit log lists each adjustment.
 * Also the faults: an adjustment whose answer is lost during a deal, and one racing the deal's end.
 */
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditRepository } from '../../shared/db/audit.ts';
import { OrderRepository, ProductRepository } from '../../shared/db/index.ts';
import type { DealProduct, OrderRecord } from '../../shared/model.ts';
import {
  adjustmentHoldId,
  auditIdOfHold,
  Reconciler,
  StockAdjustmentService,
} from '../../shared/stock/index.ts';
import { countStatuses, type Reply, startTestApi, type TestApi } from '../support/api.ts';
import { services } from '../support/app.ts';
import { hotDeals } from '../support/deals.ts';
import { dynamo, loseAnswers, quietLog, stack } from '../support/services.ts';

let api: TestApi;
let admin: string;
beforeAll(async () => {
  api = await startTestApi();
  admin = await api.admin();
});
afterAll(() => api.close());

const adjust = (id: number, delta: number, reason = 'recount') =>
  api.request('POST', `/api/admin/products/${id}/stock-adjustments`, {
    token: admin,
    body: { delta, reason },
  });
const order = (token: string, product_id: number, quantity = 1) =>
  api.request('POST', '/api/orders', { token, body: { product_id, quantity } });
const confirm = (token: string, id: string) => api.request('POST', `/api/orders/${id}/confirm`, { token });
const buy = (token: string, product_id: number, quantity = 1) =>
  api.request('POST', '/api/purchases', { token, body: { product_id, quantity } });
const startDeal = async (id: number) =>
  expect(
    (
      await api.request('POST', `/api/products/${id}/hotdeal/start`, {
        token: admin,
        body: { reservation_ttl_seconds: 300 },
      })
    ).status,
  ).toBe(200);
const endDeal = (id: number) => api.request('POST', `/api/products/${id}/hotdeal/end`, { token: admin });

const orderRows = new OrderRepository(dynamo(), 'orders', 'products', 'purchases');
const productRow = async (id: number) =>
  (await (await services()).productTable.get(id, true)) as DealProduct | null;

async function buyers(n: number) {
  const all = [];
  for (let i = 0; i < n; i += 25)
    all.push(
      ...(await Promise.all(Array.from({ length: Math.min(25, n - i) }, () => api.user('dealcrowd')))),
    );
  return all;
}

async function verifyRow(productId: number) {
  const reply = await api.request('GET', '/api/admin/inventory/verify', { token: admin });
  expect(reply.status).toBe(200);
  return reply.body.products.find((p: { product_id: number }) => p.product_id === productId);
}

async function stockAdjustRows(productId: number) {
  const reply = await api.request('GET', `/api/admin/audit?product_id=${productId}&limit=100`, {
    token: admin,
  });
  return (reply.body.items as { action: string; delta?: number }[]).filter(
    (e) => e.action === 'stock.adjust',
  );
}

/** Both stores' view of a deal product: Redis's pool, holds and reservations; DynamoDB's counters and orders. */
async function ledger(productId: number) {
  const { redis, purchaseHistory } = await services();
  const [available, holds, reservations, product, sold, orders] = await Promise.all([
    redis.hget(`stock:{${productId}}`, 'available'),
    redis.hvals(`holds:{${productId}}`),
    redis.hgetall(`reservations:{${productId}}`),
    productRow(productId),
    purchaseHistory.unitsSold(productId),
    orderRows.listByProduct(productId),
  ]);
  if (!product) throw new Error('product missing');
  const units = (status: OrderRecord['status']) =>
    orders.filter((o) => o.status === status).reduce((sum, o) => sum + o.quantity, 0);
  return {
    product,
    available: available === null ? null : Number(available),
    holds: holds.length,
    reservedIds: Object.keys(reservations).sort(),
    pendingIds: orders
      .filter((o) => o.status === 'PENDING')
      .map((o) => o.id)
      .sort(),
    pending: units('PENDING'),
    confirmed: units('CONFIRMED'),
    sold,
  };
}

const delta = (r: Reply) => Number(r.body.delta);

describe('stock adjustments during an open hot deal', () => {
  it('keeps every unit accounted for while a crowd orders and confirms and admins add and remove units at once', async () => {
    const initial = 40;
    const product = await api.product(initial, { price: 900 });
    await startDeal(product.id);
    const crowd = await buyers(50);
    const deltas = Array.from({ length: 20 }, (_, i) => [5, -2, -3, 2][i % 4] as number);

    // Each buyer orders one unit and, on a 202, two of three confirm at once (the payment callback).
    const [placed, adjustments] = await Promise.all([
      Promise.all(
        crowd.map(async (b, i) => {
          const placed = await order(b.token, product.id);
          if (placed.status !== 202 || i % 3 === 0) return { placed, confirmed: null };
          return { placed, confirmed: await confirm(b.token, placed.body.id) };
        }),
      ),
      // Waves of four at once, so the adjustments span the whole rush, not only its start.
      (async () => {
        const replies: Reply[] = [];
        for (let i = 0; i < deltas.length; i += 4)
          replies.push(
            ...(await Promise.all(
              deltas.slice(i, i + 4).map((d, j) => adjust(product.id, d, `race ${i + j}`)),
            )),
          );
        return replies;
      })(),
    ]);

    // Adjustments go through during the deal: a removal beyond the free units is a 400, nothing else.
    expect(Object.keys(countStatuses(adjustments)).every((s) => s === '200' || s === '400')).toBe(true);
    for (const r of adjustments.filter((r) => r.status === 400))
      expect(r.body.code).toBe('INSUFFICIENT_STOCK');
    const applied = adjustments.filter((r) => r.status === 200).map(delta);
    const net = applied.reduce((a, b) => a + b, 0);
    expect(applied.filter((d) => d > 0).length).toBe(10);
    expect(
      Object.keys(countStatuses(placed.map((p) => p.placed))).every((s) => s === '202' || s === '400'),
    ).toBe(true);
    for (const { confirmed } of placed) if (confirmed) expect(confirmed.status).toBe(200);
    const accepted = placed.filter((p) => p.placed.status === 202);
    const confirmedIds = placed.filter((p) => p.confirmed?.status === 200).map((p) => p.placed.body.id);

    const l = await ledger(product.id);
    // initial + Σ deltas = remaining (the deal's free units) + confirmed + pending, in DynamoDB...
    expect(initial + net).toBe((l.product.deal_free ?? -1) + l.confirmed + l.pending);
    expect(l.product.stock).toBe(initial + net - l.sold);
    expect(l.product.adjusted).toBe(net);
    expect(l.product.deal_reserved).toBe(l.pending);
    expect(l.product.deal_free).toBeGreaterThanOrEqual(0);
    // ... and in Redis: its pool is DynamoDB's free units, its reservations exactly the PENDING orders.
    expect(l.holds).toBe(0);
    expect(l.available).toBe(l.product.deal_free);
    expect(l.reservedIds).toEqual(l.pendingIds);
    // Every 202 is a durable order holding its own unit; the confirmed ones are the sales, one each.
    expect(l.pending + l.confirmed).toBe(accepted.length);
    expect(l.confirmed).toBe(confirmedIds.length);
    expect(l.sold).toBe(confirmedIds.length);
    expect(await verifyRow(product.id)).toMatchObject({
      adjusted: net,
      sold: l.sold,
      reserved: l.pending,
      ok: true,
    });
    // The audit log lists every adjustment that landed, and none that was refused.
    expect((await stockAdjustRows(product.id)).map((e) => e.delta).sort()).toEqual([...applied].sort());

    // After the end the adjusted stock is what plain purchases see, to the last unit.
    expect((await endDeal(product.id)).status).toBe(200);
    const remaining = initial + net - l.sold;
    expect(await verifyRow(product.id)).toMatchObject({
      db_stock: remaining,
      redis_stock: remaining,
      ok: true,
    });
    const shopper = crowd[0]!.token;
    expect(await buy(shopper, product.id, remaining + 1)).toMatchObject({
      status: 400,
      body: { code: 'INSUFFICIENT_STOCK', available: remaining },
    });
    expect((await buy(shopper, product.id, remaining)).status).toBe(200);
    expect((await buy(shopper, product.id, 1)).status).toBe(400);
    expect(await verifyRow(product.id)).toMatchObject({ db_stock: 0, redis_stock: 0, ok: true });
  }, 180_000);

  it('puts added units on sale in the deal at once', async () => {
    const product = await api.product(1);
    await startDeal(product.id);
    const [first, second] = await buyers(2);
    expect((await order(first!.token, product.id)).status).toBe(202);
    expect((await order(second!.token, product.id, 3)).status).toBe(400);
    const added = await adjust(product.id, 3, 'restocked');
    expect(added).toMatchObject({
      status: 200,
      body: { product_id: product.id, delta: 3, db_stock: 4, redis_stock: 3 },
    });
    expect((await order(second!.token, product.id, 3)).status).toBe(202);
    const row = await productRow(product.id);
    expect(row).toMatchObject({ stock: 4, deal_free: 0, deal_reserved: 4, adjusted: 3 });
  });

  it('refuses a removal beyond the free units (reserved and confirmed ones are not free) and writes nothing', async () => {
    const product = await api.product(10);
    await startDeal(product.id);
    const [a, b] = await buyers(2);
    const kept = await order(a!.token, product.id, 3);
    const paid = await order(b!.token, product.id, 3);
    expect([kept.status, paid.status]).toEqual([202, 202]);
    expect((await confirm(b!.token, paid.body.id)).status).toBe(200);
    const before = await ledger(product.id);
    expect(before.product).toMatchObject({ stock: 7, deal_free: 4, deal_reserved: 3 });

    const refused = await adjust(product.id, -5, 'too many');
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ code: 'INSUFFICIENT_STOCK', available: 4 });
    const after = await ledger(product.id);
    expect(after.product).toMatchObject({ stock: 7, deal_free: 4, deal_reserved: 3 });
    expect(after.product.adjusted ?? 0).toBe(0);
    expect(after.available).toBe(4);
    expect(after.holds).toBe(0);
    expect(await stockAdjustRows(product.id)).toEqual([]);

    // Exactly the free units can go; then the deal is sold out, and the PENDING order still confirms.
    expect(await adjust(product.id, -4, 'all free')).toMatchObject({
      status: 200,
      body: { db_stock: 3, redis_stock: 0 },
    });
    expect((await order(b!.token, product.id)).status).toBe(400);
    expect((await confirm(a!.token, kept.body.id)).status).toBe(200);
    expect(await verifyRow(product.id)).toMatchObject({ db_stock: 0, sold: 6, adjusted: -4, ok: true });
  });

  it('answers 409 DEAL_ACTIVE to a delete during the deal, but not to an adjustment', async () => {
    const product = await api.product(5);
    await startDeal(product.id);
    expect((await adjust(product.id, 2)).status).toBe(200);
    const removed = await api.request('DELETE', `/api/products/${product.id}`, { token: admin });
    expect(removed).toMatchObject({ status: 409, body: { code: 'DEAL_ACTIVE' } });
  });
});

describe('adjustments racing the deal and its faults', () => {
  it('lands each adjustment racing the deal end in one pool; afterwards both stores agree and plain purchases see it', async () => {
    const initial = 30;
    const product = await api.product(initial);
    await startDeal(product.id);
    const crowd = await buyers(12);
    const placed = await Promise.all(crowd.map((b) => order(b.token, product.id, 2)));
    expect(countStatuses(placed)).toEqual({ 202: 12 });
    for (const [i, p] of placed.entries()) if (i % 2 === 0) await confirm(crowd[i]!.token, p.body.id);

    const [ended, adjustments] = await Promise.all([
      endDeal(product.id),
      Promise.all(Array.from({ length: 12 }, (_, i) => adjust(product.id, i % 2 === 0 ? 2 : -1))),
    ]);
    expect(ended.status).toBe(200);
    expect(countStatuses(adjustments)).toEqual({ 200: 12 });
    const net = adjustments.map(delta).reduce((a, b) => a + b, 0);
    // DynamoDB is exact at once: 12 units sold, the rest (and the adjustments) in stock.
    const row = await productRow(product.id);
    expect(row).toMatchObject({ stock: initial + net - 12, adjusted: net, deal_reserved: 0 });
    // A start or end landing between an adjustment's durable write and its Redis step may leave Redis
    // short (never long) until the reconciler's repair: one pass, and they agree.
    const live = Number(await (await services()).redis.hget(`stock:{${product.id}}`, 'available'));
    expect(live).toBeLessThanOrEqual(initial + net - 12);
    await (await services()).reconciler.reconcileProduct(row!);
    const remaining = initial + net - 12;
    expect(await verifyRow(product.id)).toMatchObject({
      db_stock: remaining,
      redis_stock: remaining,
      ok: true,
    });
    const shoppers = await buyers(remaining + 2);
    const sales = await Promise.all(shoppers.map((s) => buy(s.token, product.id)));
    expect(countStatuses(sales)).toEqual({ 200: remaining, 400: 2 });
    expect((await stockAdjustRows(product.id)).length).toBe(12);
  });

  it("a deal start between an addition's durable write and its credit leaves Redis = DynamoDB (the mark is dropped, the credit adds nothing)", async () => {
    const product = await api.product(10);
    const base = stack();
    const { deals, products } = hotDeals(base);
    const holdId = adjustmentHoldId(ulid());
    expect(await base.stock.mark(product.id, holdId)).toBe(true);
    const entry = {
      id: auditIdOfHold(holdId) as string,
      at: new Date().toISOString(),
      actor: 'user:1',
      action: 'stock.adjust' as const,
      product_id: product.id,
      delta: 5,
      reason: 'slow addition',
    };
    expect(await products.adjustStock(product.id, 5, entry)).toEqual({ status: 'adjusted' });
    await deals.start(product.id, {}, 'user:1');
    expect(await base.stock.credit(product.id, holdId, 5)).toBe('no-mark');
    const l = await ledger(product.id);
    expect(l.product).toMatchObject({ stock: 15, deal_free: 15, adjusted: 5 });
    expect(l.available).toBe(15);
    expect(l.holds).toBe(0);
    base.redis.disconnect();
  });

  it('writes to the pool that holds the product when the write lands, whatever the caller read before', async () => {
    const plain = await api.product(10);
    const onDeal = await api.product(10);
    await startDeal(onDeal.id);
    const { products } = hotDeals(stack());
    const entry = (product_id: number, delta: number) => ({
      id: ulid(),
      at: new Date().toISOString(),
      actor: 'user:1',
      action: 'stock.adjust' as const,
      product_id,
      delta,
      reason: 'stale read',
    });
    // A stale guess each way (a deal started or ended since the read): the condition sends it over.
    expect(await products.adjustStock(plain.id, -2, entry(plain.id, -2), undefined, true)).toEqual({
      status: 'adjusted',
    });
    expect(await products.adjustStock(onDeal.id, -2, entry(onDeal.id, -2), undefined, false)).toEqual({
      status: 'adjusted',
    });
    expect(await productRow(plain.id)).toMatchObject({ stock: 8, adjusted: -2 });
    expect((await productRow(plain.id))?.deal_free).toBeUndefined();
    expect(await productRow(onDeal.id)).toMatchObject({ stock: 8, deal_free: 8, adjusted: -2 });
    // Beyond the free units in the right pool: refused, with the free units, nothing written.
    expect(await products.adjustStock(onDeal.id, -9, entry(onDeal.id, -9), undefined, false)).toEqual({
      status: 'insufficient',
      stock: 8,
    });
    expect(await productRow(onDeal.id)).toMatchObject({ stock: 8, deal_free: 8, adjusted: -2 });
    expect((await stockAdjustRows(onDeal.id)).map((e) => e.delta)).toEqual([-2]);
    // Redis was left out on purpose (the durable step alone): one reconcile pass brings each pool to it.
    const { reconciler } = await services();
    for (const id of [plain.id, onDeal.id]) await reconciler.reconcileProduct((await productRow(id))!);
    expect(await verifyRow(plain.id)).toMatchObject({ db_stock: 8, redis_stock: 8, ok: true });
    expect(await verifyRow(onDeal.id)).toMatchObject({ db_stock: 8, redis_stock: 8, ok: true });
  });

  it.each([-3, 4])(
    'settles a %i adjustment whose answer was lost during a deal through its audit row',
    async (d) => {
      const product = await api.product(10);
      await startDeal(product.id);
      const [a] = await buyers(1);
      expect((await order(a!.token, product.id, 2)).status).toBe(202);
      const base = stack();
      const doc = dynamo();
      loseAnswers(doc, ['TransactWriteItemsCommand']);
      const { deals } = hotDeals(base);
      const adjustments = new StockAdjustmentService({
        products: new ProductRepository(doc, 'products', 'audit'),
        stock: base.stock,
        restore: (p) => deals.restore(p),
        log: quietLog,
      });
      await expect(adjustments.adjust(product.id, d, 'lost answer', 'user:1')).rejects.toThrow(
        /may or may not/,
      );
      expect((await base.stock.holds(product.id)).map((h) => h.holdId)).toEqual([
        expect.stringMatching(/^adjust-/),
      ]);
      // The durable write landed: the deal's free units moved.
      expect(await productRow(product.id)).toMatchObject({
        stock: 10 + d,
        deal_free: 8 + d,
        deal_reserved: 2,
      });

      const live = hotDeals(base);
      const reconciler = new Reconciler({
        stock: base.stock,
        products: base.products,
        purchases: base.purchases,
        log: quietLog,
        // Stale at once: this test's adjustment request is over. The audit row says it landed.
        holdStaleAfterMs: 0,
        deals: live.deals,
        inFlight: live.redisDeals,
        audit: new AuditRepository(dynamo(), 'audit'),
      });
      await reconciler.reconcileProduct((await productRow(product.id))!);
      const l = await ledger(product.id);
      expect(l.holds).toBe(0);
      expect(l.available).toBe(8 + d);
      expect(await verifyRow(product.id)).toMatchObject({ adjusted: d, reserved: 2, ok: true });
      base.redis.disconnect();
    },
  );
});
