/**
 * The product read cache through the real handlers: the list and a product's views may lag the
 * live stock by at most PRODUCT_READ_CACHE_MS, and the purchase path never reads them, so a buyer
 * shown a stale "available" is still refused by Redis once the stock is gone.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';

const TTL_MS = 2_000;
vi.hoisted(() => {
  process.env.PRODUCT_READ_CACHE_MS = '2000';
});

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(() => api.close());

describe('product read cache', () => {
  it('shows a stale count for at most the TTL, and never sells on it', async () => {
    const product = await api.product(1, { strategy: 'atomic' });
    const [first, second] = await Promise.all([api.user('cache'), api.user('cache')]);
    const view = () => api.request('GET', `/api/products/${product.id}`, { token: first.token });
    const stock = () => api.request('GET', `/api/products/${product.id}/stock`, { token: first.token });
    const cachedFrom = Date.now();
    expect((await view()).body.redis_stock).toBe(1);
    expect((await stock()).body.redis_stock).toBe(1);

    const bought = await api.request('POST', '/api/purchases', {
      token: first.token,
      body: { product_id: product.id, quantity: 1 },
    });
    expect(bought.status).toBe(200);

    // Within the TTL the cached view still says 1 available (checked only when this read surely
    // fell inside it: a loaded machine may have taken longer than the TTL to get here)...
    const stale = await view();
    if (Date.now() - cachedFrom < TTL_MS) expect(stale.body.redis_stock).toBe(1);
    // ...but the purchase path reads Redis: the last unit is gone.
    const refused = await api.request('POST', '/api/purchases', {
      token: second.token,
      body: { product_id: product.id, quantity: 1 },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe('INSUFFICIENT_STOCK');

    await sleep(TTL_MS + 50);
    expect((await view()).body.redis_stock).toBe(0);
    expect((await stock()).body).toMatchObject({ db_stock: 0, redis_stock: 0, synced: true });
  });
});
