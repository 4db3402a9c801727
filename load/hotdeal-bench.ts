/**
 * `npm run bench:hotdeal`: seed 004's comparison, both paths measured side by side in one run, in
 * process, against a private redis-server and an in-memory DynamoDB Local:
 *
 *  (a) plain DynamoDB: per order one TransactWriteItems [Put order PENDING + Update product
 *      stock -= q if stock >= q], no Redis (the "existing system": the database is the gate);
 *  (b) the Redis reservation path: OrderService.create (one Lua script checks the deal, the cap and
 *      the stock and reserves; then one transaction writes the PENDING order with the deal's free
 *      units and the buyer's count: DynamoDB is the final gate, Redis keeps refusals away from it).
 *
 * Same load for both: REQUESTS order requests of one unit from CONCURRENCY callers (distinct users),
 * on a 100-unit product (most requests refused: the flash-sale shape) and on a product large enough
 * that every request succeeds (both paths do their full work). Latency is per request, client side.
 */
import { cpus, loadavg } from 'node:os';
import { ulid } from 'ulid';
import { startDynamoDbLocal, startRedisServer } from '../bin/local/processes.ts';
import { newSigningKey } from '../shared/auth/keys.ts';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 500);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 100);
const WARM_UP = Number(process.env.BENCH_WARM_UP ?? 1_000);

interface Outcome {
  readonly kind: 'ok' | 'refused' | 'error';
  readonly ms: number;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;

async function drive(total: number, concurrency: number, op: (i: number) => Promise<'ok' | 'refused'>) {
  const outcomes: Outcome[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const t = performance.now();
        let kind: Outcome['kind'];
        try {
          kind = await op(i);
        } catch {
          kind = 'error';
        }
        outcomes.push({ kind, ms: performance.now() - t });
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const latencies = outcomes.map((o) => o.ms).sort((a, b) => a - b);
  const count = (k: Outcome['kind']) => outcomes.filter((o) => o.kind === k).length;
  return {
    requests: total,
    succeeded: count('ok'),
    refused: count('refused'),
    errors: count('error'),
    throughput: total / seconds,
    mean: latencies.reduce((s, v) => s + v, 0) / Math.max(1, latencies.length),
    p95: percentile(latencies, 95),
  };
}

async function main() {
  const [redisServer, dynamoServer] = await Promise.all([startRedisServer(), startDynamoDbLocal()]);
  Object.assign(process.env, {
    REDIS_URL: redisServer.url,
    DYNAMODB_ENDPOINT: dynamoServer.url,
    JWT_SIGNING_KEY: JSON.stringify(newSigningKey()),
    LOG_LEVEL: 'ERROR',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    RECONCILE_ON_START: 'false',
  });
  // Imported after the environment points at the private servers (config is parsed on first use).
  const { parseConfig } = await import('../shared/config.ts');
  const { productService, reconciler } = await import('../shared/wiring/stock.ts');
  const { dealService, orderService } = await import('../shared/wiring/hotdeal.ts');
  const { redisClient } = await import('../shared/wiring/redis.ts');
  const { createDocumentClient, createDynamoClient, createTables, cancellationCodes, transactWrite } =
    await import('../shared/db/index.ts');
  const cfg = parseConfig();
  await createTables(createDynamoClient(cfg), {
    users: 'users',
    products: 'products',
    purchases: 'purchases',
    orders: 'orders',
  });
  const app = {
    products: await productService.get(),
    deals: await dealService.get(),
    orders: await orderService.get(),
    reconciler: await reconciler.get(),
    redis: await redisClient.get(),
  };
  const doc = createDocumentClient(cfg);

  const dealProduct = async (stock: number) => {
    const product = await app.products.create({
      name: `bench-${ulid()}`,
      price: 1000,
      stock,
      strategy: 'atomic',
    });
    await app.deals.start(product.id, {});
    return product;
  };

  /** (a) The database as the gate: conditional decrement and the PENDING order in one transaction. */
  const dynamoOrder = (productId: number) => async (i: number) => {
    const at = new Date().toISOString();
    try {
      await transactWrite(doc, {
        TransactItems: [
          {
            Put: {
              TableName: cfg.ORDERS_TABLE,
              Item: {
                id: ulid(),
                user_id: 1 + (i % CONCURRENCY),
                product_id: productId,
                quantity: 1,
                unit_price: 1000,
                total_price: 1000,
                status: 'PENDING',
                created_at: at,
                expires_at: new Date(Date.now() + 600_000).toISOString(),
                updated_at: at,
              },
              ConditionExpression: 'attribute_not_exists(id)',
            },
          },
          {
            Update: {
              TableName: cfg.PRODUCTS_TABLE,
              Key: { id: productId },
              UpdateExpression: 'SET stock = stock - :q, updated_at = :now',
              ConditionExpression: 'stock >= :q',
              ExpressionAttributeValues: { ':q': 1, ':now': at },
            },
          },
        ],
      });
      return 'ok' as const;
    } catch (error) {
      if (cancellationCodes(error)?.[1] === 'ConditionalCheckFailed') return 'refused' as const;
      throw error;
    }
  };

  /** (b) Redis reservation, then the durable PENDING order. */
  const redisOrder = (productId: number) => async (i: number) => {
    try {
      await app.orders.create({ userId: 1 + (i % CONCURRENCY), productId, quantity: 1 });
      return 'ok' as const;
    } catch (error) {
      if ((error as Error).name === 'InsufficientStockError') return 'refused' as const;
      throw error;
    }
  };

  // Warm the JVM, the sockets and the scripts on both paths (not measured).
  const warmA = await dealProduct(WARM_UP);
  const warmB = await dealProduct(WARM_UP);
  await drive(WARM_UP, CONCURRENCY, dynamoOrder(warmA.id));
  await drive(WARM_UP, CONCURRENCY, redisOrder(warmB.id));

  const rows: string[] = [];
  const ratios: string[] = [];
  const redisPathProducts: number[] = [];
  for (const [label, units] of [
    ['100 units', 100],
    ['ample stock', REQUESTS * 2],
  ] as const) {
    const a = await drive(REQUESTS, CONCURRENCY, dynamoOrder((await dealProduct(units)).id));
    const redisProduct = await dealProduct(units);
    redisPathProducts.push(redisProduct.id);
    const b = await drive(REQUESTS, CONCURRENCY, redisOrder(redisProduct.id));
    // The flash-sale shape (100 units) is the named line; ample stock says what admitted orders cost.
    ratios.push(
      `hot deal${units === 100 ? '' : ` (${label})`}: redis p95 ${b.p95.toFixed(1)} ms vs dynamodb-only p95 ${a.p95.toFixed(1)} ms = ${(a.p95 / b.p95).toFixed(1)}x`,
    );
    for (const [path, r] of [
      ['DynamoDB conditional decrement', a],
      ['Redis reservation (Lua) + final gate (PENDING order, deal_free)', b],
    ] as const) {
      rows.push(
        `| ${label} | ${path} | ${r.requests} | ${r.succeeded} | ${r.refused} | ${r.errors} | ${r.throughput.toFixed(0)} | ${r.mean.toFixed(1)} | ${r.p95.toFixed(1)} | ${((100 * r.errors) / r.requests).toFixed(1)} % |`,
      );
    }
  }
  const audit = await app.reconciler.verify();

  console.log(
    `\nHot-deal orders, ${REQUESTS} requests from ${CONCURRENCY} concurrent callers per run, in process ` +
      `(${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, load ${loadavg()[0]?.toFixed(2)}, ${new Date().toISOString()})\n`,
  );
  console.log(
    '| stock | path | requests | succeeded | refused | errors | throughput/s | mean ms | p95 ms | error rate |',
  );
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const row of rows) console.log(row);
  console.log('');
  for (const ratio of ratios) console.log(ratio);
  // The plain path's PENDING orders took durable stock without a purchase row, so only the Redis
  // path's products are audited: redis + reserved = db, initial = db + sold.
  const checked = audit.products.filter((p) => redisPathProducts.includes(p.product_id));
  console.log(
    `\naudit of the Redis-path products: ${checked
      .map(
        (p) =>
          `#${p.product_id} redis ${p.redis_stock} + reserved ${p.reserved} = db ${p.db_stock}: ${p.ok ? 'ok' : 'NOT OK'}`,
      )
      .join('; ')}`,
  );

  app.redis.disconnect();
  await Promise.all([redisServer.stop(), dynamoServer.stop()]);
}

await main();
