/**
 * The reconciler's pass has a bounded cost and cannot be starved: on a catalogue of 1,000 products
 * with one hot deal of 2,000 orders, one pass repairs every drifted product, reads at most a budget
 * of the deal's orders, survives a product that fails, and the deal's backlog is worked off over the
 * next passes. The short form of `npm run bench:reconcile` (docs/performance.md has the full size).
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type StartedProcess, startRedisServer } from '../../bin/local/processes.ts';
import {
  type Catalogue,
  type DynamoMeter,
  meterDynamo,
  seedCatalogue,
} from '../../load/lib/reconcile-fixture.ts';
import {
  createDynamoClient,
  createTables,
  OrderRepository,
  ProductRepository,
  PurchaseRepository,
} from '../../shared/db/index.ts';
import { DealRestore, DealService, OrderService, RedisDeals } from '../../shared/orders/index.ts';
import { createRedis } from '../../shared/redis.ts';
import { Reconciler, RedisStock, stockKey } from '../../shared/stock/index.ts';
import { dynamo, quietLog } from '../support/services.ts';

const PRODUCTS = 1_000;
const BUDGET = 40;
/**
 * Its own tables and its own redis-server: a thousand products would slow every other file's audit
 * (it reads every product), and another file's FLUSHALL must not land in the middle of a pass.
 */
const tables = {
  users: 'budget_users',
  products: 'budget_products',
  purchases: 'budget_purchases',
  orders: 'budget_orders',
};

let server: StartedProcess;
let redis: Redis;
let meter: DynamoMeter;
let reconciler: Reconciler;
let redisDeals: RedisDeals;
let products: ProductRepository;
let catalogue: Catalogue;

beforeAll(async () => {
  server = await startRedisServer();
  redis = createRedis(server.url);
  await createTables(
    createDynamoClient({ AWS_REGION: 'us-east-1', DYNAMODB_ENDPOINT: inject('dynamoEndpoint') }),
    tables,
  );
  const doc = dynamo();
  meter = meterDynamo(doc);
  const stock = new RedisStock(redis);
  redisDeals = new RedisDeals(redis);
  products = new ProductRepository(doc, tables.products);
  const orders = new OrderRepository(doc, tables.orders, tables.products, tables.purchases);
  const restorer = new DealRestore({ deals: redisDeals, stock, products, orders, log: quietLog });
  const orderService = new OrderService({ deals: redisDeals, orders, log: quietLog });
  reconciler = new Reconciler({
    stock,
    products,
    purchases: new PurchaseRepository(doc, tables.purchases, tables.products),
    log: quietLog,
    holdStaleAfterMs: 60_000,
    deals: new DealService({
      deals: redisDeals,
      stock,
      products,
      orders,
      orderService,
      restorer,
      log: quietLog,
      holdStaleAfterMs: 60_000,
      reconcileBudget: BUDGET,
    }),
    inFlight: redisDeals,
  });
  catalogue = await seedCatalogue(
    dynamo(),
    redis,
    { firstId: 1, products: PRODUCTS, orders: 2_000, pendingShare: 0.1, drifted: 10 },
    tables,
  );
}, 180_000);
afterAll(async () => {
  await redis?.quit();
  await server?.stop();
});

describe('a reconcile pass on 1,000 products with a 2,000-order deal', () => {
  it('repairs every other product in one pass, reads at most its budget of the deal, and survives a failing product', async () => {
    // One product's live state is unreadable (not a hash): its step fails, the pass goes on.
    const broken = PRODUCTS;
    await redis.del(stockKey(broken));
    await redis.set(stockKey(broken), 'not a hash');
    meter.reset();
    const first = await reconciler.reconcileAll();
    expect(first).toMatchObject({ products: PRODUCTS, repaired: catalogue.driftedIds.length, failed: 1 });
    expect(first.reservationsSettled).toBe(BUDGET);
    for (const id of catalogue.driftedIds) expect(await redis.hget(stockKey(id), 'available')).toBe('1000');
    // Per pass: the products' scan, a read per drifted product, and the deal's budget; nothing per product.
    const calls = Object.fromEntries(meter.calls);
    expect(calls.GetItemCommand ?? 0).toBeLessThanOrEqual(catalogue.driftedIds.length + BUDGET + 2);
    expect(calls.TransactWriteItemsCommand ?? 0).toBeLessThanOrEqual(BUDGET);
    expect(calls.QueryCommand ?? 0).toBeLessThanOrEqual(2);
    expect(meter.total()).toBeLessThan(PRODUCTS / 2);
    await redis.del(stockKey(broken));
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
    const { reservations } = await redisDeals.reservations(catalogue.dealProductId);
    expect(reservations).toHaveLength(catalogue.pending - expired);
    const product = await products.get(catalogue.dealProductId, true);
    expect(product).toMatchObject({ deal_reserved: catalogue.pending - expired });
  });
});
