/**
 * The admin API over real HTTP, the real handlers, Redis and DynamoDB Local: product update and
 * delete, stock adjustments (also while a sale, holds and hot-deal reservations run), purchases and
 * audit listings with cursors, lock inspection and forced release (also racing a holder), and role
 * changes taking effect on the next request. Every change is checked in the audit log.
 */
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AuditRepository } from '../../shared/db/audit.ts';
import { ProductRepository, PurchaseRepository } from '../../shared/db/index.ts';
import { createRedis } from '../../shared/redis.ts';
import {
  adjustmentHoldId,
  Reconciler,
  RedisStock,
  StockAdjustmentService,
} from '../../shared/stock/index.ts';
import { productLocks } from '../../shared/wiring/redis.ts';
import { countStatuses, type Reply, startTestApi, type TestApi } from '../support/api.ts';
import { services } from '../support/app.ts';
import { breakOperations, dynamo, loseAnswers, quietLog } from '../support/services.ts';
import { until } from '../support/wait.ts';

let api: TestApi;
let admin: string;
let buyer: { id: number; token: string };
beforeAll(async () => {
  api = await startTestApi();
  admin = await api.admin();
  buyer = await api.user('shopper');
});
afterAll(() => api.close());

interface AuditItem {
  id: string;
  at: string;
  actor: string;
  action: string;
  product_id: number | null;
  delta?: number;
  reason?: string;
  detail?: Record<string, unknown>;
}

const buy = (token: string, product_id: number, quantity = 1) =>
  api.request('POST', '/api/purchases', { token, body: { product_id, quantity } });
const adjust = (id: number, delta: number, reason = 'recount', token = admin) =>
  api.request('POST', `/api/admin/products/${id}/stock-adjustments`, { token, body: { delta, reason } });
const stockOf = async (id: number) =>
  (await api.request('GET', `/api/products/${id}/stock`, { token: admin })).body as {
    db_stock: number;
    redis_stock: number | null;
  };
const auditOf = async (productId: number): Promise<AuditItem[]> =>
  (await api.request('GET', `/api/admin/audit?product_id=${productId}&limit=100`, { token: admin })).body
    .items;

async function verifyRow(productId: number) {
  const reply = await api.request('GET', '/api/admin/inventory/verify', { token: admin });
  expect(reply.status).toBe(200);
  return reply.body.products.find((p: { product_id: number }) => p.product_id === productId);
}

/** Several buyers, each with a token (registration is setup, not the race). */
async function buyers(n: number) {
  const all = [];
  for (let i = 0; i < n; i += 20)
    all.push(...(await Promise.all(Array.from({ length: Math.min(20, n - i) }, () => api.user('crowd')))));
  return all;
}

describe('PATCH /api/products/{id}', () => {
  it('changes name, description and price, live price included, and records the change', async () => {
    const product = await api.product(10, { price: 1000 });
    const reply = await api.request('PATCH', `/api/products/${product.id}`, {
      token: admin,
      body: { name: 'Renamed lamp', description: 'brighter', price: 2500 },
    });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({
      id: product.id,
      name: 'Renamed lamp',
      description: 'brighter',
      price: 2500,
    });
    const bought = await buy(buyer.token, product.id, 2);
    expect(bought.status).toBe(200);
    expect(bought.body.total_price).toBe(5000);
    const [update] = (await auditOf(product.id)).filter((e) => e.action === 'product.update');
    expect(update).toMatchObject({ actor: expect.stringMatching(/^user:\d+$/), product_id: product.id });
    expect(update?.detail).toMatchObject({ from: { price: 1000 }, to: { price: 2500 } });
  });

  it('answers 404 for an unknown product, 422 for an empty or unknown change, 403 for a buyer', async () => {
    const product = await api.product(1);
    expect(
      (await api.request('PATCH', '/api/products/99999999', { token: admin, body: { price: 1 } })).status,
    ).toBe(404);
    const empty = await api.request('PATCH', `/api/products/${product.id}`, { token: admin, body: {} });
    expect(empty.status).toBe(422);
    const stock = await api.request('PATCH', `/api/products/${product.id}`, {
      token: admin,
      body: { stock: 5 },
    });
    expect(stock.status).toBe(422);
    const negative = await api.request('PATCH', `/api/products/${product.id}`, {
      token: admin,
      body: { price: -1 },
    });
    expect(negative.body.errors[0].field).toBe('body.price');
    const forbidden = await api.request('PATCH', `/api/products/${product.id}`, {
      token: buyer.token,
      body: { price: 1 },
    });
    expect(forbidden.status).toBe(403);
    expect((await stockOf(product.id)).db_stock).toBe(1);
  });
});

describe('DELETE /api/products/{id}', () => {
  it('answers 204; the product is then 404 for reads and purchases, and its purchases stay', async () => {
    const product = await api.product(5);
    expect((await buy(buyer.token, product.id, 2)).status).toBe(200);
    const deleted = await api.request('DELETE', `/api/products/${product.id}`, { token: admin });
    expect(deleted.status).toBe(204);
    expect((await api.request('GET', `/api/products/${product.id}`, { token: buyer.token })).status).toBe(
      404,
    );
    const refused = await buy(buyer.token, product.id);
    expect(refused.status).toBe(404);
    expect(refused.body.code).toBe('PRODUCT_NOT_FOUND');
    const mine = await api.request('GET', '/api/purchases/me', { token: buyer.token });
    expect(mine.body.some((p: { product_id?: number }) => p.product_id === product.id)).toBe(true);
    expect((await api.request('DELETE', `/api/products/${product.id}`, { token: admin })).status).toBe(404);
    const [row] = (await auditOf(product.id)).filter((e) => e.action === 'product.delete');
    expect(row).toMatchObject({ delta: -3, product_id: product.id });
  });

  it('answers 409 DEAL_ACTIVE while a hot deal is open, and deletes once it ended', async () => {
    const product = await api.product(5);
    expect(
      (await api.request('POST', `/api/products/${product.id}/hotdeal/start`, { token: admin })).status,
    ).toBe(200);
    const refused = await api.request('DELETE', `/api/products/${product.id}`, { token: admin });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('DEAL_ACTIVE');
    expect(
      (await api.request('POST', `/api/products/${product.id}/hotdeal/end`, { token: admin })).status,
    ).toBe(200);
    expect((await api.request('DELETE', `/api/products/${product.id}`, { token: admin })).status).toBe(204);
    const actions = (await auditOf(product.id)).map((e) => e.action);
    expect(actions).toEqual(['product.delete', 'deal.end', 'deal.start', 'product.create']);
  });

  it.each(['lock', 'atomic'] as const)(
    'deletes a %s product with a sale in flight: no 5xx, every 200 stays in history, nothing sold after',
    async (strategy) => {
      const product = await api.product(40, { strategy });
      const crowd = await buyers(60);
      const sales = crowd.map((b) => buy(b.token, product.id));
      // Let part of the crowd through, then delete in the middle of the stampede.
      await new Promise((resolve) => setTimeout(resolve, 30));
      const deleted = await api.request('DELETE', `/api/products/${product.id}`, { token: admin });
      const replies = await Promise.all(sales);
      expect(deleted.status).toBe(204);
      const statuses = countStatuses(replies);
      expect(
        Object.keys(statuses)
          .map(Number)
          .every((s) => [200, 400, 404, 409].includes(s)),
      ).toBe(true);
      const sold = replies.filter((r) => r.status === 200).length;
      expect(sold).toBeLessThanOrEqual(40);
      // Every 200 is a durable purchase of this product; nothing was sold after the delete.
      const listed = await api.request('GET', `/api/admin/purchases?product_id=${product.id}&limit=100`, {
        token: admin,
      });
      expect(listed.body.items).toHaveLength(sold);
      const [row] = (await auditOf(product.id)).filter((e) => e.action === 'product.delete');
      expect(row?.delta).toBe(sold - 40);
      expect((await buy(buyer.token, product.id)).status).toBe(404);
      expect((await api.request('GET', `/api/products/${product.id}/stock`, { token: admin })).status).toBe(
        404,
      );
    },
  );
});

describe('POST /api/admin/products/{id}/stock-adjustments', () => {
  it('adds and removes units in DynamoDB and Redis, audited, and verify still adds up', async () => {
    const product = await api.product(10);
    expect((await buy(buyer.token, product.id, 3)).status).toBe(200);
    const added = await adjust(product.id, 5, 'second pallet arrived');
    expect(added.status).toBe(200);
    expect(added.body).toEqual({ product_id: product.id, delta: 5, db_stock: 12, redis_stock: 12 });
    const removed = await adjust(product.id, -4, 'damaged in the warehouse');
    expect(removed.body).toEqual({ product_id: product.id, delta: -4, db_stock: 8, redis_stock: 8 });
    expect(await verifyRow(product.id)).toMatchObject({
      initial_stock: 10,
      adjusted: 1,
      sold: 3,
      db_stock: 8,
      redis_stock: 8,
      held: 0,
      ok: true,
    });
    const rows = (await auditOf(product.id)).filter((e) => e.action === 'stock.adjust');
    expect(rows.map((e) => [e.delta, e.reason])).toEqual([
      [-4, 'damaged in the warehouse'],
      [5, 'second pallet arrived'],
    ]);
  });

  it('refuses to remove more than is unsold with 400 INSUFFICIENT_STOCK and changes nothing', async () => {
    const product = await api.product(5);
    expect((await buy(buyer.token, product.id, 2)).status).toBe(200);
    const refused = await adjust(product.id, -4);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ code: 'INSUFFICIENT_STOCK', product_id: product.id, available: 3 });
    expect(await stockOf(product.id)).toMatchObject({ db_stock: 3, redis_stock: 3 });
    expect((await auditOf(product.id)).filter((e) => e.action === 'stock.adjust')).toEqual([]);
    expect((await adjust(product.id, -3)).body).toMatchObject({ db_stock: 0, redis_stock: 0 });
  });

  it('answers 404, 422 for a zero delta, a fraction or no reason, and 403 for a buyer', async () => {
    const product = await api.product(5);
    expect((await adjust(99999999, 1)).status).toBe(404);
    for (const body of [
      { delta: 0, reason: 'x' },
      { delta: 1.5, reason: 'x' },
      { delta: 1 },
      { delta: 1, reason: ' ' },
    ]) {
      const reply = await api.request('POST', `/api/admin/products/${product.id}/stock-adjustments`, {
        token: admin,
        body,
      });
      expect(reply.status, JSON.stringify(body)).toBe(422);
    }
    expect((await adjust(product.id, 1, 'x', buyer.token)).status).toBe(403);
    expect(await stockOf(product.id)).toMatchObject({ db_stock: 5, redis_stock: 5 });
  });

  it('restores a product Redis lost before adjusting it', async () => {
    const product = await api.product(6);
    const { redis } = await services();
    await redis.del(`stock:{${product.id}}`);
    expect((await adjust(product.id, -2)).body).toMatchObject({ db_stock: 4, redis_stock: 4 });
  });

  it.each(['lock', 'atomic'] as const)(
    'keeps initial + Σ deltas = remaining + Σ sold in DynamoDB and Redis while a %s sale runs',
    async (strategy) => {
      const product = await api.product(60, { strategy });
      const crowd = await buyers(80);
      const deltas = Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? 7 : -4));
      const [sales, adjustments] = await Promise.all([
        Promise.all(crowd.map((b) => buy(b.token, product.id))),
        Promise.all(deltas.map((d) => adjust(product.id, d))),
      ]);
      const sold = sales.filter((r) => r.status === 200).length;
      expect(Object.keys(countStatuses(sales)).every((s) => s === '200' || s === '400')).toBe(true);
      expect(Object.keys(countStatuses(adjustments)).every((s) => s === '200' || s === '400')).toBe(true);
      const applied = adjustments.filter((r) => r.status === 200).map((r) => r.body.delta as number);
      const netDelta = applied.reduce((a, b) => a + b, 0);
      const after = await stockOf(product.id);
      expect(after.db_stock).toBe(60 + netDelta - sold);
      expect(after.redis_stock).toBe(after.db_stock);
      expect(await verifyRow(product.id)).toMatchObject({ adjusted: netDelta, sold, held: 0, ok: true });
      // Every accepted adjustment has its audit row; a refused one has none.
      const rows = (await auditOf(product.id)).filter((e) => e.action === 'stock.adjust');
      expect(rows.map((e) => e.delta).sort()).toEqual(applied.map(Number).sort());
    },
  );

  it('applies adjustments while a hot deal runs (they move its free units), and the ledger holds through the deal', async () => {
    const product = await api.product(40);
    expect(
      (await api.request('POST', `/api/products/${product.id}/hotdeal/start`, { token: admin })).status,
    ).toBe(200);
    const crowd = await buyers(50);
    const [orders, adjustments] = await Promise.all([
      Promise.all(
        crowd.map((b) =>
          api.request('POST', '/api/orders', {
            token: b.token,
            body: { product_id: product.id, quantity: 1 },
          }),
        ),
      ),
      Promise.all(Array.from({ length: 20 }, (_, i) => adjust(product.id, i % 2 === 0 ? 3 : -5))),
    ]);
    // The deal's free units take the adjustments (docs/hot-deals.md); a removal beyond them is a 400.
    expect(Object.keys(countStatuses(adjustments)).every((s) => s === '200' || s === '400')).toBe(true);
    const net = adjustments.filter((r) => r.status === 200).reduce((sum, r) => sum + Number(r.body.delta), 0);
    const reserved = orders.filter((r) => r.status === 202).length;
    const row = await verifyRow(product.id);
    expect(row).toMatchObject({ reserved, sold: 0, db_stock: 40 + net, adjusted: net, ok: true });
    expect(row.redis_stock).toBe(40 + net - reserved);
    // Confirming a few orders turns reservations into sales; the ledger still holds.
    const pending = orders.filter((r) => r.status === 202).slice(0, 5);
    for (const [i, order] of pending.entries()) {
      const owner = crowd[orders.indexOf(order)] ?? crowd[i];
      expect(
        (await api.request('POST', `/api/orders/${order.body.id}/confirm`, { token: owner?.token })).status,
      ).toBe(200);
    }
    expect(
      (await api.request('POST', `/api/products/${product.id}/hotdeal/end`, { token: admin })).status,
    ).toBe(200);
    expect(await verifyRow(product.id)).toMatchObject({ sold: pending.length, reserved: 0, ok: true });
    // After the end, adjustments apply to the plain stock.
    expect((await adjust(product.id, 3)).status).toBe(200);
    expect(await verifyRow(product.id)).toMatchObject({ adjusted: net + 3, ok: true });
  });
});

describe('an adjustment whose request dies is settled by the reconciler through its audit row', () => {
  const build = () => {
    const doc = dynamo();
    const redis = createRedis(inject('redisUrl'));
    const products = new ProductRepository(doc, 'products', 'audit');
    const stock = new RedisStock(redis);
    const audit = new AuditRepository(doc, 'audit');
    const adjustments = new StockAdjustmentService({
      products,
      stock,
      restore: (p) => stock.load(p),
      log: quietLog,
    });
    const reconciler = new Reconciler({
      stock,
      products,
      purchases: new PurchaseRepository(doc, 'purchases', 'products'),
      log: quietLog,
      holdStaleAfterMs: 0,
      audit,
    });
    return { doc, redis, stock, adjustments, reconciler };
  };

  it.each([-3, 4])(
    'commits the hold of a %i adjustment that landed but whose answer was lost',
    async (delta) => {
      const product = await api.product(10);
      const { doc, redis, stock, adjustments, reconciler } = build();
      loseAnswers(doc, ['TransactWriteItemsCommand']);
      await expect(adjustments.adjust(product.id, delta, 'lost answer', 'user:1')).rejects.toThrow(
        /may or may not/,
      );
      expect((await stock.holds(product.id)).map((h) => h.holdId)).toEqual([
        expect.stringMatching(/^adjust-/),
      ]);
      const row = await (await services()).productTable.get(product.id, true);
      if (!row) throw new Error('product missing');
      await reconciler.reconcileProduct(row);
      expect(await stock.holds(product.id)).toEqual([]);
      expect(await stockOf(product.id)).toEqual(
        expect.objectContaining({ db_stock: 10 + delta, redis_stock: 10 + delta }),
      );
      expect(await verifyRow(product.id)).toMatchObject({ adjusted: delta, ok: true });
      redis.disconnect();
    },
  );

  it.each([-3, 4])('releases the hold of a %i adjustment that never landed', async (delta) => {
    const product = await api.product(10);
    const { doc, redis, stock, adjustments, reconciler } = build();
    breakOperations(doc, ['TransactWriteItemsCommand']);
    await expect(adjustments.adjust(product.id, delta, 'outage', 'user:1')).rejects.toThrow();
    const held = await stock.holds(product.id);
    const row = (await (await services()).productTable.get(product.id, true))!;
    await reconciler.reconcileProduct(row);
    expect(await stock.holds(product.id)).toEqual([]);
    expect(await stockOf(product.id)).toEqual(expect.objectContaining({ db_stock: 10, redis_stock: 10 }));
    expect(await verifyRow(product.id)).toMatchObject({ adjusted: 0, ok: true });
    // An outage with no answer leaves the hold (outcome unknown); the reconciler released it.
    expect(held.length).toBeLessThanOrEqual(1);
    redis.disconnect();
  });

  it('never releases an adjustment hold it cannot check (no audit log given)', async () => {
    const product = await api.product(10);
    const { redis, stock } = build();
    const holdId = adjustmentHoldId(ulid());
    await stock.reserveAll([{ productId: product.id, quantity: 2 }], holdId);
    const doc = dynamo();
    const blind = new Reconciler({
      stock,
      products: new ProductRepository(doc, 'products', 'audit'),
      purchases: new PurchaseRepository(doc, 'purchases', 'products'),
      log: quietLog,
      holdStaleAfterMs: 0,
    });
    await blind.reconcileProduct((await (await services()).productTable.get(product.id, true))!);
    expect((await stock.holds(product.id)).map((h) => h.holdId)).toEqual([holdId]);
    await stock.release(product.id, holdId);
    redis.disconnect();
  });
});

describe('GET /api/admin/purchases', () => {
  it('filters by product, by buyer and by both, and walks every page once with the cursor', async () => {
    const [a, b] = [await api.product(20), await api.product(20)];
    const [alice, bob] = [await api.user('alice'), await api.user('bob')];
    for (const [who, what] of [
      [alice, a],
      [alice, a],
      [alice, b],
      [bob, a],
      [bob, b],
    ] as const)
      expect((await buy(who.token, what.id)).status).toBe(200);
    const list = (query: string) => api.request('GET', `/api/admin/purchases?${query}`, { token: admin });
    expect((await list(`product_id=${a.id}`)).body.items).toHaveLength(3);
    expect((await list(`user_id=${alice.id}`)).body.items).toHaveLength(3);
    const both = (await list(`user_id=${alice.id}&product_id=${b.id}`)).body.items;
    expect(both).toEqual([expect.objectContaining({ user_id: alice.id, product_id: b.id })]);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Reply = await list(`user_id=${alice.id}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((p: { id: string }) => p.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toHaveLength(3);
    expect(new Set(seen).size).toBe(3);
    const all = (await list('limit=100')).body;
    expect(all.items.length).toBeGreaterThan(0);
  });

  it('answers 422 for a forged cursor, a bad limit or a bad id, and 403 for a buyer', async () => {
    const forged = Buffer.from(JSON.stringify({ id: { S: 'x' } })).toString('base64url');
    for (const query of [`cursor=${forged}`, 'cursor=not*base64', 'limit=0', 'limit=101', 'user_id=abc']) {
      const reply = await api.request('GET', `/api/admin/purchases?${query}`, { token: admin });
      expect(reply.status, query).toBe(422);
      expect(reply.body.code).toBe('VALIDATION_ERROR');
    }
    expect((await api.request('GET', '/api/admin/purchases', { token: buyer.token })).status).toBe(403);
  });
});

describe('locks', () => {
  it('shows a held lock with its TTL and waiters, and force-releases it (audited)', async () => {
    const product = await api.product(5, { strategy: 'lock' });
    const locks = await productLocks.get();
    const held = await locks.acquire(String(product.id), { ttlMs: 30_000 });
    const shown = await api.request('GET', `/api/admin/locks/${product.id}`, { token: admin });
    expect(shown.body).toEqual({
      product_id: product.id,
      held: true,
      ttl_ms: expect.any(Number),
      waiting: 0,
    });
    expect(shown.body.ttl_ms).toBeGreaterThan(20_000);
    // A buyer now waits in line behind the stuck holder.
    const waiting = buy(buyer.token, product.id);
    await until(
      'the buyer waits in line',
      async () => (await locks.inspect(String(product.id))).waiting === 1,
    );
    const line = await api.request('GET', `/api/admin/locks/${product.id}`, { token: admin });
    // The route reads the same line; the waiter may have stepped out for a moment since.
    expect(line.body).toMatchObject({ product_id: product.id, held: true });
    expect(line.body.waiting).toBeLessThanOrEqual(1);
    expect((await api.request('DELETE', `/api/admin/locks/${product.id}`, { token: admin })).status).toBe(
      204,
    );
    expect((await waiting).status).toBe(200);
    expect(await locks.release(held)).toBe('not-held');
    expect((await api.request('GET', `/api/admin/locks/${product.id}`, { token: admin })).body).toMatchObject(
      {
        held: false,
        ttl_ms: 0,
      },
    );
    const [row] = (await auditOf(product.id)).filter((e) => e.action === 'lock.force-release');
    expect(row?.detail).toMatchObject({ was_held: true });
    expect((await api.request('GET', '/api/admin/locks/99999999', { token: admin })).status).toBe(404);
    expect(
      (await api.request('DELETE', `/api/admin/locks/${product.id}`, { token: buyer.token })).status,
    ).toBe(403);
  });

  it('sells exactly the stock while forced releases race the holders', async () => {
    const product = await api.product(30, { strategy: 'lock' });
    const crowd = await buyers(60);
    let racing = true;
    let releases = 0;
    const releaser = (async () => {
      while (racing) {
        const reply = await api.request('DELETE', `/api/admin/locks/${product.id}`, { token: admin });
        expect(reply.status).toBe(204);
        releases += 1;
      }
    })();
    const replies = await Promise.all(crowd.map((b) => buy(b.token, product.id)));
    racing = false;
    await releaser;
    expect(releases).toBeGreaterThan(0);
    // A holder whose lock was freed under it and who writes after a newer holder is refused by the
    // fence (409 LOCK_CONFLICT, nothing written); everyone else gets a unit or sold out.
    const statuses = countStatuses(replies);
    expect(statuses[200]).toBe(30);
    expect((statuses[400] ?? 0) + (statuses[409] ?? 0)).toBe(30);
    for (const r of replies.filter((x) => x.status === 409)) expect(r.body.code).toBe('LOCK_CONFLICT');
    expect(await stockOf(product.id)).toEqual(expect.objectContaining({ db_stock: 0, redis_stock: 0 }));
    expect(await verifyRow(product.id)).toMatchObject({ sold: 30, held: 0, ok: true });
  });
});

describe('PATCH /api/admin/users/{id}', () => {
  it('promotes a user, and a demoted admin is refused on the next request with the same token', async () => {
    const colleague = await api.user('colleague');
    const promoted = await api.request('PATCH', `/api/admin/users/${colleague.id}`, {
      token: admin,
      body: { role: 'admin' },
    });
    expect(promoted.body).toMatchObject({ id: colleague.id, role: 'admin' });
    // Promotion counts from the next login (the old token still says "user").
    const login = await api.request('POST', '/api/auth/login', {
      body: { username: colleague.username, password: 'password123' },
    });
    const adminToken = login.body.access_token as string;
    expect((await adjust((await api.product(3)).id, 1, 'x', adminToken)).status).toBe(200);

    const demoted = await api.request('PATCH', `/api/admin/users/${colleague.id}`, {
      token: admin,
      body: { role: 'user' },
    });
    expect(demoted.body.role).toBe('user');
    // The token still says admin, but a role change raised the user's token version: every admin
    // route refuses it at once as no longer valid (401; docs/security.md).
    const after = await Promise.all([
      api.request('GET', '/api/admin/audit', { token: adminToken }),
      api.request('GET', '/api/admin/inventory/verify', { token: adminToken }),
      api.request('POST', '/api/products', { token: adminToken, body: { name: 'x', price: 1, stock: 1 } }),
      api.request('PATCH', `/api/admin/users/${colleague.id}`, {
        token: adminToken,
        body: { role: 'admin' },
      }),
    ]);
    expect(after.map((r) => r.status)).toEqual([401, 401, 401, 401]);
    const roleRows = (
      await api.request('GET', '/api/admin/audit?limit=100', { token: admin })
    ).body.items.filter((e: AuditItem) => e.action === 'user.role' && e.detail?.user_id === colleague.id);
    expect(roleRows.map((e: AuditItem) => e.detail?.to)).toEqual(['user', 'admin']);
  });

  it('refuses every admin request that starts after the demotion answered, while they race it', async () => {
    const colleague = await api.user('racer');
    await api.request('PATCH', `/api/admin/users/${colleague.id}`, { token: admin, body: { role: 'admin' } });
    const token = (
      await api.request('POST', '/api/auth/login', {
        body: { username: colleague.username, password: 'password123' },
      })
    ).body.access_token as string;
    const before = api.request('GET', '/api/admin/audit?limit=1', { token });
    const demotion = api.request('PATCH', `/api/admin/users/${colleague.id}`, {
      token: admin,
      body: { role: 'user' },
    });
    expect((await before).status).toBe(200);
    expect((await demotion).status).toBe(200);
    const after = await Promise.all(
      Array.from({ length: 20 }, () => api.request('GET', '/api/admin/audit?limit=1', { token })),
    );
    expect(countStatuses(after)).toEqual({ 401: 20 });
  });

  it('answers 404 for an unknown user and 422 for an unknown role', async () => {
    expect(
      (await api.request('PATCH', '/api/admin/users/99999999', { token: admin, body: { role: 'user' } }))
        .status,
    ).toBe(404);
    const bad = await api.request('PATCH', `/api/admin/users/${buyer.id}`, {
      token: admin,
      body: { role: 'root' },
    });
    expect(bad.status).toBe(422);
  });
});

describe('GET /api/admin/audit', () => {
  it('records creation, deal start and end, and the reconciler restoring a lost product', async () => {
    const product = await api.product(7);
    const { redis } = await services();
    await redis.del(`stock:{${product.id}}`);
    const doc = dynamo();
    const products = new ProductRepository(doc, 'products', 'audit');
    const reconciler = new Reconciler({
      stock: new RedisStock(redis),
      products,
      purchases: new PurchaseRepository(doc, 'purchases', 'products'),
      log: quietLog,
      holdStaleAfterMs: 60_000,
      audit: new AuditRepository(doc, 'audit'),
    });
    await reconciler.reconcileProduct((await products.get(product.id, true))!);
    const rows = await auditOf(product.id);
    expect(rows.map((e) => e.action)).toEqual(['stock.restore', 'product.create']);
    expect(rows[0]).toMatchObject({ actor: 'reconciler', detail: { db_stock: 7 } });
    expect(rows[1]).toMatchObject({ delta: 7, actor: expect.stringMatching(/^user:/) });
  });

  it('lists newest first, a page at a time, and refuses a forged cursor', async () => {
    const product = await api.product(50);
    for (let i = 1; i <= 5; i++) expect((await adjust(product.id, i, `step ${i}`)).status).toBe(200);
    const first = await api.request('GET', `/api/admin/audit?product_id=${product.id}&limit=4`, {
      token: admin,
    });
    expect(first.body.items.map((e: AuditItem) => e.delta)).toEqual([5, 4, 3, 2]);
    const second = await api.request(
      'GET',
      `/api/admin/audit?product_id=${product.id}&limit=4&cursor=${first.body.next_cursor}`,
      { token: admin },
    );
    expect(second.body.items.map((e: AuditItem) => e.action)).toEqual(['stock.adjust', 'product.create']);
    const everything = await api.request('GET', '/api/admin/audit?limit=3', { token: admin });
    expect(everything.body.items).toHaveLength(3);
    expect(everything.body.next_cursor).toEqual(expect.any(String));
    const forged = Buffer.from(JSON.stringify({ id: 'x', product_id: 'y' })).toString('base64url');
    expect(
      (await api.request('GET', `/api/admin/audit?product_id=1&cursor=${forged}`, { token: admin })).status,
    ).toBe(422);
  });
});
