import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countStatuses, type Reply, startTestApi, type TestApi } from '../support/api.ts';

let api: TestApi;
let buyers: { id: number; token: string }[];
beforeAll(async () => {
  api = await startTestApi();
  // 300 distinct buyers, as in the V1 stress scenario (registered once, reused by every test).
  buyers = [];
  for (let i = 0; i < 300; i += 50) {
    buyers.push(...(await Promise.all(Array.from({ length: 50 }, () => api.user('crowd')))));
  }
}, 120_000);
afterAll(() => api.close());

const buy = (token: string, product_id: number, quantity = 1, headers: Record<string, string> = {}) =>
  api.request('POST', '/api/purchases', { token, body: { product_id, quantity }, headers });

async function stockOf(productId: number) {
  return (await api.request('GET', `/api/products/${productId}/stock`, { token: await api.admin() })).body;
}

async function stampede(productId: number, count: number): Promise<Reply[]> {
  return Promise.all(buyers.slice(0, count).map((b) => buy(b.token, productId)));
}

describe.each(['lock', 'atomic'] as const)('%s strategy', (strategy) => {
  it('sells exactly 10 units to 20 concurrent buyers', async () => {
    const product = await api.product(10, { strategy });
    const replies = await stampede(product.id, 20);
    expect(countStatuses(replies)).toEqual({ 200: 10, 400: 10 });
    expect(await stockOf(product.id)).toEqual({
      product_id: product.id,
      db_stock: 0,
      redis_stock: 0,
      synced: true,
    });
  });

  it('sells exactly 100 units to 100 concurrent buyers', async () => {
    const product = await api.product(100, { strategy });
    const replies = await stampede(product.id, 100);
    expect(countStatuses(replies)).toEqual({ 200: 100 });
    expect(await stockOf(product.id)).toMatchObject({ db_stock: 0, redis_stock: 0, synced: true });
  });

  it('sells exactly 100 of 100 units to 300 buyers: 200 × INSUFFICIENT_STOCK, no 409, no 5xx', async () => {
    const product = await api.product(100, { strategy, price: 2500 });
    const replies = await stampede(product.id, 300);
    expect(countStatuses(replies)).toEqual({ 200: 100, 400: 200 });
    for (const reply of replies.filter((r) => r.status === 400)) {
      expect(reply.body).toMatchObject({ code: 'INSUFFICIENT_STOCK', detail: expect.any(String) });
    }
    const sold = replies.filter((r) => r.status === 200).map((r) => r.body);
    expect(new Set(sold.map((p) => p.id)).size).toBe(100);
    expect(sold.every((p) => p.total_price === 2500 && p.quantity === 1 && p.product_id === product.id)).toBe(
      true,
    );
    expect(await stockOf(product.id)).toMatchObject({ db_stock: 0, redis_stock: 0, synced: true });

    const audit = await api.request('GET', '/api/admin/inventory/verify', { token: await api.admin() });
    expect(audit.body.products.find((p: { product_id: number }) => p.product_id === product.id)).toEqual({
      product_id: product.id,
      initial_stock: 100,
      adjusted: 0,
      sold: 100,
      db_stock: 0,
      redis_stock: 0,
      held: 0,
      reserved: 0,
      ok: true,
    });
  });

  it('refuses a purchase larger than the remaining stock and leaves no trace', async () => {
    const product = await api.product(3, { strategy });
    const [buyer] = buyers;
    const reply = await buy(buyer!.token, product.id, 4);
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ code: 'INSUFFICIENT_STOCK', available: 3 });
    expect(await stockOf(product.id)).toMatchObject({ db_stock: 3, redis_stock: 3 });
  });
});

describe('purchase requests', () => {
  it('answers 200 with the purchase and lists it first in /purchases/me', async () => {
    const user = await api.user();
    const product = await api.product(5, { price: 1200 });
    const older = await api.product(5);
    await buy(user.token, older.id);
    const reply = await buy(user.token, product.id, 2);
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({
      id: expect.any(String),
      product_id: product.id,
      quantity: 2,
      items: [{ product_id: product.id, quantity: 2, unit_price: 1200, total_price: 2400 }],
      total_price: 2400,
      purchased_at: expect.any(String),
    });
    const mine = await api.request('GET', '/api/purchases/me', { token: user.token });
    expect(mine.status).toBe(200);
    expect(mine.body.map((p: { product_id: number }) => p.product_id)).toEqual([product.id, older.id]);
  });

  it('answers an unknown product with 404 PRODUCT_NOT_FOUND', async () => {
    const reply = await buy(buyers[0]!.token, 99_999_999);
    expect(reply.status).toBe(404);
    expect(reply.body.code).toBe('PRODUCT_NOT_FOUND');
  });

  it.each([
    [{ product_id: 1, quantity: 0 }, 'body.quantity'],
    [{ product_id: 1, quantity: 1.5 }, 'body.quantity'],
    [{ product_id: '1', quantity: 1 }, 'body.product_id'],
    [{ quantity: 1 }, 'body.product_id'],
  ])('refuses %j with 422 naming %s', async (body, field) => {
    const reply = await api.request('POST', '/api/purchases', { token: buyers[0]!.token, body });
    expect(reply.status).toBe(422);
    expect(reply.body.detail).toContain(field);
  });

  it('needs a token', async () => {
    const reply = await api.request('POST', '/api/purchases', { body: { product_id: 1, quantity: 1 } });
    expect(reply.status).toBe(401);
  });
});

describe('Idempotency-Key', () => {
  it.each(['lock', 'atomic'] as const)(
    'turns the same key sent 20 times in parallel into one purchase (%s)',
    async (strategy) => {
      const product = await api.product(50, { strategy });
      const user = await api.user();
      const headers = { 'idempotency-key': `order-${product.id}` };
      const replies = await Promise.all(
        Array.from({ length: 20 }, () => buy(user.token, product.id, 2, headers)),
      );
      const ok = replies.filter((r) => r.status === 200);
      // The first request buys; the others either replay its outcome (200, same id) or are told it is
      // still in flight (409 PURCHASE_IN_PROGRESS, retry later). Nothing is bought twice.
      expect(ok.length).toBeGreaterThanOrEqual(1);
      expect(new Set(ok.map((r) => r.body.id)).size).toBe(1);
      for (const r of replies.filter((r) => r.status !== 200))
        expect(r.body.code).toBe('PURCHASE_IN_PROGRESS');
      expect(await stockOf(product.id)).toMatchObject({ db_stock: 48, redis_stock: 48 });
      const mine = await api.request('GET', '/api/purchases/me', { token: user.token });
      expect(mine.body).toHaveLength(1);

      const retry = await buy(user.token, product.id, 2, headers);
      expect(retry.status).toBe(200);
      expect(retry.body).toEqual(ok[0]!.body);
    },
  );

  it('refuses the same key with a different body with 422 and buys nothing', async () => {
    const product = await api.product(10);
    const user = await api.user();
    const headers = { 'idempotency-key': 'same-key' };
    expect((await buy(user.token, product.id, 1, headers)).status).toBe(200);
    const reply = await buy(user.token, product.id, 3, headers);
    expect(reply.status).toBe(422);
    expect(reply.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await stockOf(product.id)).toMatchObject({ db_stock: 9, redis_stock: 9 });
  });

  it('keeps keys per user: two users with the same key buy twice', async () => {
    const product = await api.product(10);
    const [a, b] = [await api.user(), await api.user()];
    const headers = { 'idempotency-key': 'shared' };
    const [ra, rb] = [await buy(a.token, product.id, 1, headers), await buy(b.token, product.id, 1, headers)];
    expect([ra.status, rb.status]).toEqual([200, 200]);
    expect(ra.body.id).not.toBe(rb.body.id);
  });
});
