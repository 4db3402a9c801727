/**
 * The reconciler's pass has a bounded cost and cannot be starved: on a catalogue of 1,000 products
 * with one hot deal of 4,000 orders, one pass repairs every drifted product, reads at most a budget
 * of the deal's orders, survives a product that fails, and the deal's backlog is worked off over the
 * next passes. The short form of `npm run bench:reconcile` (docs/performance.md has the full size).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProductRecord } from '#shared/model';
import { Reconciler, stockKey } from '#shared/stock';
import { type Catalogue, meterDynamo, seedCatalogue } from '../../load/lib/reconcile-fixture.ts';
import { hotDeals } from '../support/deals.ts';
import { dynamo, quietLog, stack } from '../support/services.ts';

const FIRST_ID = 70_000_000;
const PRODUCTS = 1_000;
const BUDGET = 100;

const base = stack();
const doc = dynamo();
const meter = meterDynamo(doc);
const deals = hotDeals(base, { doc, reconcileBudget: BUDGET });
let catalogue: Catalogue;

/** The pass over this catalogue only (the test tables are shared with other files' products). */
const reconciler = new Reconciler({
  stock: base.stock,
  products: {
    get: (id, consistent) => deals.products.get(id, consistent),
    listAll: async (consistent) =>
      (await deals.products.listAll(consistent)).filter(
        (p: ProductRecord) => p.id >= FIRST_ID && p.id < FIRST_ID + PRODUCTS,
      ),
  },
  purchases: base.purchases,
  log: quietLog,
  holdStaleAfterMs: 60_000,
  deals: deals.deals,
  inFlight: deals.redisDeals,
});

beforeAll(async () => {
  catalogue = await seedCatalogue(base.doc, base.redis, {
    firstId: FIRST_ID,
    products: PRODUCTS,
    orders: 4_000,
    pendingShare: 0.1,
    drifted: 10,
  });
}, 120_000);
afterAll(() => base.redis.quit());

describe('a reconcile pass on 1,000 products with a 4,000-order deal', () => {
  it('repairs every other product in one pass, reads at most its budget of the deal, and survives a failing product', async () => {
    // One product's live state is unreadable (not a hash): its step fails, the pass goes on.
    const broken = FIRST_ID + PRODUCTS - 1;
    await base.redis.del(stockKey(broken));
    await base.redis.set(stockKey(broken), 'not a hash');
    meter.reset();
    const first = await reconciler.reconcileAll();
    expect(first).toMatchObject({ products: PRODUCTS, repaired: catalogue.driftedIds.length, failed: 1 });
    expect(first.reservationsSettled).toBe(BUDGET);
    for (const id of catalogue.driftedIds)
      expect(await base.redis.hget(stockKey(id), 'available')).toBe('1000');
    // Per pass: the products' scan, a read per drifted product, and the deal's budget; nothing per product.
    const calls = Object.fromEntries(meter.calls);
    expect(calls.GetItemCommand ?? 0).toBeLessThanOrEqual(catalogue.driftedIds.length + BUDGET + 2);
    expect(calls.TransactWriteItemsCommand ?? 0).toBeLessThanOrEqual(BUDGET);
    expect(calls.QueryCommand ?? 0).toBeLessThanOrEqual(2);
    expect(meter.total()).toBeLessThan(PRODUCTS / 2);
    await base.redis.del(stockKey(broken));
  });

  it('works the deal’s backlog off over the next passes, each as cheap', async () => {
    const expired = catalogue.expiredReservations;
    let settled = BUDGET;
    for (let pass = 0; pass < 3 && settled < expired; pass++) {
      meter.reset();
      const summary = await reconciler.reconcileAll();
      settled += summary.reservationsSettled;
      expect(meter.total()).toBeLessThan(PRODUCTS / 2);
    }
    expect(settled).toBe(expired);
    const { reservations } = await deals.redisDeals.reservations(catalogue.dealProductId);
    expect(reservations).toHaveLength(catalogue.pending - expired);
    const product = await base.products.get(catalogue.dealProductId, true);
    expect(product).toMatchObject({ deal_reserved: catalogue.pending - expired });
  });
});
