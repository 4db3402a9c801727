/**
 * `npm run bench:reconcile`: the cost of one reconciler pass on a large catalogue, against a private
 * redis-server and an in-memory DynamoDB Local. Seeds PRODUCTS products (1 % of them with a Redis
 * stock one below DynamoDB's) and one hot deal with ORDERS orders (10 % PENDING, half of those past
 * their time), then runs PASSES passes and prints, per pass: wall time, DynamoDB calls and capacity
 * units per operation, Redis commands, and what the pass did. BENCH_BUDGET sets the orders one
 * product's step may read per pass (default: the service's); a budget as large as the deal shows
 * what one large deal would cost a pass without it.
 */
import { cpus, loadavg } from 'node:os';
import { startDynamoDbLocal, startRedisServer } from '../bin/local/processes.ts';
import { meterDynamo, redisCommands, seedCatalogue } from './lib/reconcile-fixture.ts';

const PRODUCTS = Number(process.env.BENCH_PRODUCTS ?? 10_000);
const ORDERS = Number(process.env.BENCH_ORDERS ?? 100_000);
const PASSES = Number(process.env.BENCH_PASSES ?? 3);
const BUDGET = process.env.BENCH_BUDGET ? Number(process.env.BENCH_BUDGET) : undefined;

async function main() {
  const [redisServer, dynamoServer] = await Promise.all([startRedisServer(), startDynamoDbLocal()]);
  try {
    const {
      createDocumentClient,
      createDynamoClient,
      createTables,
      OrderRepository,
      ProductRepository,
      PurchaseRepository,
    } = await import('../shared/db/index.ts');
    const { createRedis } = await import('../shared/redis.ts');
    const { DealRestore, DealService, OrderService, RedisDeals } = await import('../shared/orders/index.ts');
    const { Reconciler, RedisStock } = await import('../shared/stock/index.ts');
    const env = { AWS_REGION: 'us-east-1', DYNAMODB_ENDPOINT: dynamoServer.url };
    await createTables(createDynamoClient(env), {
      users: 'users',
      products: 'products',
      purchases: 'purchases',
      orders: 'orders',
    });
    const seedDoc = createDocumentClient(env);
    const redis = createRedis(redisServer.url);
    const seeding = performance.now();
    const catalogue = await seedCatalogue(seedDoc, redis, {
      firstId: 1,
      products: PRODUCTS,
      orders: ORDERS,
      pendingShare: 0.1,
      drifted: Math.round(PRODUCTS / 100),
    });
    console.log(
      `seeded ${PRODUCTS} products and ${ORDERS} orders (${catalogue.pending} PENDING, ` +
        `${catalogue.expiredReservations} past their time) in ${((performance.now() - seeding) / 1000).toFixed(1)} s`,
    );

    const doc = createDocumentClient(env);
    const meter = meterDynamo(doc);
    const log = { info() {}, warn() {}, error() {} };
    const build = (reconcileBudget?: number) => {
      const stock = new RedisStock(redis);
      const deals = new RedisDeals(redis);
      const products = new ProductRepository(doc, 'products');
      const orders = new OrderRepository(doc, 'orders', 'products', 'purchases');
      const restorer = new DealRestore({ deals, stock, products, orders, log });
      const orderService = new OrderService({ deals, orders, log });
      const dealService = new DealService({
        deals,
        stock,
        products,
        orders,
        orderService,
        restorer,
        log,
        holdStaleAfterMs: 60_000,
        ...(reconcileBudget !== undefined && { reconcileBudget }),
      });
      return new Reconciler({
        stock,
        products,
        purchases: new PurchaseRepository(doc, 'purchases', 'products'),
        log,
        holdStaleAfterMs: 60_000,
        deals: dealService,
        inFlight: deals,
      });
    };

    console.log(
      `\nmachine: ${cpus().length} vCPU (${cpus()[0]?.model.trim()}), Node ${process.version}, load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}\n`,
    );
    console.log(
      '| pass | budget | seconds | DynamoDB calls | capacity units | Redis commands | repaired | settled | failed |',
    );
    console.log(
      '| ---: | -----: | ------: | -------------- | -------------: | -------------: | -------: | ------: | -----: |',
    );
    const runs = Array.from({ length: PASSES }, () => BUDGET);
    for (const [i, budget] of runs.entries()) {
      meter.reset();
      const commandsBefore = await redisCommands(redis);
      const started = performance.now();
      const summary = await build(budget).reconcileAll();
      const seconds = (performance.now() - started) / 1000;
      const commands = (await redisCommands(redis)) - commandsBefore - 1;
      const calls = [...meter.calls].map(([op, n]) => `${op.replace('Command', '')} ${n}`).join(', ');
      const units = [...meter.capacity.values()].reduce((a, b) => a + b, 0);
      console.log(
        `| ${i + 1} | ${budget ?? 'default'} | ${seconds.toFixed(2)} | ${calls} (${meter.total()}) | ${units.toFixed(1)} | ${commands} | ${summary.repaired} | ${summary.reservationsSettled} | ${summary.failed} |`,
      );
    }
    await redis.quit();
  } finally {
    await Promise.all([redisServer.stop(), dynamoServer.stop()]);
  }
}

await main();
