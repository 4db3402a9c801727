/**
 * `npm run bench:hot`: one hot product under DynamoDB's real per-item limits, emulated in front of
 * DynamoDB Local (shared/db/emulated-limits.ts; docs/operations.md has the switches and the AWS
 * sources), through the local runtime (a child process running the real handlers).
 *
 *  1. Today's design at AWS's numbers (1,000 WCU per item, 4 ms median latency): a flash crowd on
 *     one product arriving at 1,000 and 3,000 requests/s, `lock` and `atomic`.
 *  2. The scale model: the per-item capacity set below DynamoDB Local's own ceiling on this machine
 *     (~800 transactions/s), DYNAMODB_ITEM_WCU=10 by default (5 transactional purchases/s per item,
 *     so 40/s for K = 8, within what this machine's runtime serves), so the item limit binds and not
 *     the machine; the hot product with its stock in K items (`stock_shards`), K = 1 against K = 8.
 *     The last line printed is `shard speed-up: <ratio>x` (durable purchases/s, K = 8 over K = 1).
 *
 * Each row: sold (200s), oversold (past the stock, by the API's answers or by the purchases DynamoDB
 * holds), durable purchases per second (90% of the sales over the time they took from the first
 * arrival), the emulation's conflicts and throttles during the row, client-side p50/p99, 400 sold
 * out, 409/429 refusals, 5xx (a request unanswered after API Gateway's 30 s counts as 503), FCFS (of
 * the first `stock` arrivals, how many were served), and the durable sold count once the runtime is
 * quiet (the inventory verification), which can exceed the 200s by purchases whose answer was lost.
 *
 * Knobs (environment): HOT_BENCH_SECONDS (arrival window per row, 1), HOT_BENCH_RATES (1000,3000),
 * HOT_BENCH_K (1,8), HOT_BENCH_K_STRATEGIES (atomic), HOT_BENCH_K_RATE (1000), HOT_BENCH_ITEM_WCU
 * (10), LOCAL_CONCURRENCY_CREATE_PURCHASE (12: more worker threads than that only thrash 2 cores), HOT_BENCH_BUYERS (100 tokens, reused: the per-user in-flight limit is off for this run),
 * HOT_BENCH_SKIP_TODAY=1 (the scale model alone).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDynamoDbLocal, startEmulatedDynamoDb, startRedisServer } from '../bin/local/processes.ts';
import { createDynamoClient, createTables } from '../shared/db/index.ts';
import { type Api, api, startRuntime, users } from './lib/local.ts';

const list = (value: string | undefined, fallback: string) =>
  (value ?? fallback)
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
const SECONDS = Number(process.env.HOT_BENCH_SECONDS ?? 1);
const RATES = list(process.env.HOT_BENCH_RATES, '1000,3000').map(Number);
const K_LIST = list(process.env.HOT_BENCH_K, '1,8').map(Number);
const K_STRATEGIES = list(process.env.HOT_BENCH_K_STRATEGIES, 'atomic') as Strategy[];
const K_RATE = Number(process.env.HOT_BENCH_K_RATE ?? 1000);
const SCALE_WCU = Number(process.env.HOT_BENCH_ITEM_WCU ?? 10);
const BUYERS = Number(process.env.HOT_BENCH_BUYERS ?? 100);
const AWS_WCU = 1000;
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

type Strategy = 'lock' | 'atomic';
interface Stats {
  requests: number;
  transactions: number;
  conflicts: number;
  throttles: number;
}

interface Row {
  label: string;
  strategy: Strategy;
  shards: number;
  rate: number;
  arrivals: number;
  stock: number;
  sold: number;
  oversold: number;
  purchasesPerSecond: number;
  conflicts: number;
  throttles: number;
  p50: number;
  p99: number;
  soldOut: number;
  refused4xx: number;
  errors5xx: number;
  fcfs: string;
  /** Purchases DynamoDB holds for the product once the runtime is quiet (the inventory verification). */
  durableSold: number;
}

/** Progress on stderr, so stdout is the report alone. */
const progress = (line: string) =>
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;

async function emulation(url: string, limits?: { itemWcu: number }): Promise<Stats> {
  // Tried again: on a loaded machine a kept-alive socket can close under the request.
  for (let attempt = 1; ; attempt++) {
    try {
      const response = limits
        ? await fetch(`${url}/emulation/limits`, { method: 'PUT', body: JSON.stringify(limits) })
        : await fetch(`${url}/emulation/stats`);
      return (await response.json()) as Stats;
    } catch (error) {
      if (attempt >= 3) throw error;
      await sleep(500);
    }
  }
}

/** API Gateway's HTTP API integration timeout: past it the buyer gets 503 whatever the function does. */
const GATEWAY_TIMEOUT_MS = 30_000;

async function purchase(url: string, productId: number, token: string, order: number, sent: number) {
  let status: number;
  try {
    const response = await fetch(`${url}/api/purchases`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ product_id: productId, quantity: 1 }),
      signal: AbortSignal.timeout(GATEWAY_TIMEOUT_MS),
    });
    await response.arrayBuffer();
    status = response.status;
  } catch {
    status = 503;
  }
  const done = performance.now();
  return { order, sent, done, status, ms: done - sent };
}

/** The product's durable sold count (inventory verification) once it stopped changing. */
async function settledSold(client: Api, adminToken: string, productId: number): Promise<number> {
  let last = Number.NaN;
  for (let round = 0; round < 30; round++) {
    const verify = (await client.call('GET', '/api/admin/inventory/verify', undefined, adminToken)).body;
    const row = verify.products?.find((p: { product_id: number }) => p.product_id === productId);
    const sold = Number(row?.sold ?? Number.NaN);
    if (sold === last) return sold;
    last = sold;
    await sleep(2_000);
  }
  return last;
}

/** Open-loop arrivals: request i leaves at i / rate seconds, whatever the answers before it. */
async function flashCrowd(
  client: Api,
  emulationUrl: string,
  adminToken: string,
  buyers: string[],
  spec: { label: string; strategy: Strategy; shards: number; rate: number; stock: number },
): Promise<Row> {
  const created = await client.call(
    'POST',
    '/api/products',
    {
      name: `hot-${spec.label}-${spec.strategy}-k${spec.shards}-${spec.rate}`,
      price: 1000,
      stock: spec.stock,
      strategy: spec.strategy,
      stock_shards: spec.shards,
    },
    adminToken,
  );
  if (created.status !== 201) throw new Error(`creating the hot product answered ${created.status}`);
  progress(`${spec.label}: ${spec.strategy}, K=${spec.shards}, ${spec.rate}/s`);
  const product = created.body;
  const before = await emulation(emulationUrl);
  const arrivals = Math.round(spec.rate * SECONDS);
  const started = performance.now();
  const pending: Promise<{ order: number; sent: number; done: number; status: number; ms: number }>[] = [];
  for (let order = 0; order < arrivals; order++) {
    const lag = (order * 1000) / spec.rate - (performance.now() - started);
    if (lag >= 1) await sleep(lag);
    const sent = performance.now();
    pending.push(purchase(client.url, product.id, buyers[order % buyers.length] as string, order, sent));
  }
  const replies = await Promise.all(pending);
  const after = await emulation(emulationUrl);

  const sales = replies.filter((r) => r.status === 200);
  // The rate the sale sustained: 90% of its sales over the time they took (one straggler answered
  // at the gateway's timeout does not divide the whole sale by 30 s).
  const saleTimes = sales.map((r) => r.done - started).sort((a, b) => a - b);
  const p90Sale = percentile(saleTimes, 90);
  const latencies = replies.map((r) => r.ms).sort((a, b) => a - b);
  const firstArrivals = replies.slice(0, spec.stock);
  // Requests the gateway gave up on may still finish inside the runtime: count once it is quiet.
  const auditedSold = await settledSold(client, adminToken, product.id);
  const row: Row = {
    label: spec.label,
    strategy: spec.strategy,
    shards: spec.shards,
    rate: spec.rate,
    arrivals,
    stock: spec.stock,
    sold: sales.length,
    oversold: Math.max(0, sales.length - spec.stock, auditedSold - spec.stock),
    purchasesPerSecond: sales.length === 0 ? 0 : Math.round((0.9 * sales.length) / (p90Sale / 1000)),
    conflicts: after.conflicts - before.conflicts,
    throttles: after.throttles - before.throttles,
    p50: Math.round(percentile(latencies, 50)),
    p99: Math.round(percentile(latencies, 99)),
    soldOut: replies.filter((r) => r.status === 400).length,
    refused4xx: replies.filter((r) => r.status >= 401 && r.status < 500).length,
    errors5xx: replies.filter((r) => r.status >= 500).length,
    fcfs: `${firstArrivals.filter((r) => r.status === 200).length}/${Math.min(spec.stock, arrivals)}`,
    durableSold: auditedSold,
  };
  progress(tableLine(row));
  return row;
}

function table(rows: Row[]): string {
  const head =
    '| strategy | K | arrivals/s | arrivals | stock | sold | oversold | durable purchases/s | conflicts | throttles | p50 ms | p99 ms | 400 sold out | 409/429 | 5xx | FCFS (first `stock` served) | durable sold |';
  return [head, `|${'---|'.repeat(17)}`, ...rows.map(tableLine)].join('\n');
}

function tableLine(r: Row): string {
  return `| ${r.strategy} | ${r.shards} | ${r.rate} | ${r.arrivals} | ${r.stock} | ${r.sold} | ${r.oversold} | ${r.purchasesPerSecond} | ${r.conflicts} | ${r.throttles} | ${r.p50} | ${r.p99} | ${r.soldOut} | ${r.refused4xx} | ${r.errors5xx} | ${r.fcfs} | ${r.durableSold} |`;
}

/** Purchases spread over many products (each its own item), so handlers and the JVM are warm. */
async function warmUp(client: Api, adminToken: string, buyers: string[]) {
  const products = await Promise.all(
    Array.from({ length: 16 }, async (_, i) => {
      const reply = await client.call(
        'POST',
        '/api/products',
        { name: `warm-${i}`, price: 1, stock: 1000, strategy: i % 2 ? 'lock' : 'atomic' },
        adminToken,
      );
      return reply.body.id as number;
    }),
  );
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async (_, worker) => {
      while (next < 600) {
        const n = next++;
        await client.call(
          'POST',
          '/api/purchases',
          { product_id: products[n % products.length], quantity: 1 },
          buyers[(worker + n) % buyers.length],
        );
      }
    }),
  );
}

async function main() {
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.version}`;
  const loadBefore = loadavg()[0]?.toFixed(2);
  console.log(`# hot-product bench ${new Date().toISOString()} on ${machine}`);
  console.log(`load average (1 min) at start: ${loadBefore}\n`);

  const stopping: { stop(): Promise<void> }[] = [];
  let runtime: { url: string; child: ChildProcess } | undefined;
  try {
    // One after the other, each stopped at the end even if the next fails to start.
    const dynamo = await startDynamoDbLocal();
    stopping.push(dynamo);
    const redis = await startRedisServer();
    stopping.push(redis);
    await createTables(createDynamoClient({ AWS_REGION: 'us-east-1', DYNAMODB_ENDPOINT: dynamo.url }), {
      users: 'users',
      products: 'products',
      purchases: 'purchases',
      orders: 'orders',
      audit: 'audit',
    });
    const emulated = await startEmulatedDynamoDb(dynamo.url, {
      ...process.env,
      DYNAMODB_ITEM_WCU: String(AWS_WCU),
      DYNAMODB_EMULATED_LATENCY_MS: process.env.DYNAMODB_EMULATED_LATENCY_MS ?? '4',
    });
    stopping.push(emulated);
    const admin = { ADMIN_USERNAME: 'hot_admin', ADMIN_PASSWORD: 'hot-bench-admin-password' };
    mkdirSync('load/results', { recursive: true });
    const runtimeLog = 'load/results/hot-bench-runtime.log';
    progress(`runtime error log: ${runtimeLog}`);
    runtime = await startRuntime(
      {
        REDIS_URL: redis.url,
        // The runtime's functions reach DynamoDB Local through the emulation only.
        DYNAMODB_ENDPOINT: emulated.url,
        DYNAMODB_EMULATE_LIMITS: 'false',
        BCRYPT_COST: '4',
        RECONCILE_ON_START: 'false',
        // 100 tokens stand for thousands of distinct buyers: their per-user in-flight cap is off here.
        PURCHASES_IN_FLIGHT_PER_USER: '0',
        // Lambda would run as many purchase functions as arrive; this machine's 2 cores run 12 at once.
        LOCAL_CONCURRENCY_CREATE_PURCHASE: process.env.LOCAL_CONCURRENCY_CREATE_PURCHASE ?? '12',
        // Past 12 running and 256 waiting, a purchase is refused at once (429), as Lambda throttles past
        // its concurrency; otherwise a 3,000/s crowd on 2 cores would queue for minutes.
        LOCAL_QUEUE_LIMIT: process.env.LOCAL_QUEUE_LIMIT ?? '256',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        ...admin,
      },
      [],
      openSync(runtimeLog, 'w'),
    );
    const client = api(runtime.url);
    const adminToken = (
      await client.call('POST', '/api/auth/login', {
        username: admin.ADMIN_USERNAME,
        password: admin.ADMIN_PASSWORD,
      })
    ).body.access_token as string;
    progress('runtime up; buyers and warm-up');
    const buyers = await users(client, BUYERS, 'hot');
    await warmUp(client, adminToken, buyers);
    progress('warm');

    const today: Row[] = [];
    if (process.env.HOT_BENCH_SKIP_TODAY !== '1') {
      await emulation(emulated.url, { itemWcu: AWS_WCU });
      for (const rate of RATES)
        for (const strategy of ['lock', 'atomic'] as const)
          today.push(
            await flashCrowd(client, emulated.url, adminToken, buyers, {
              label: 'today',
              strategy,
              shards: 1,
              rate,
              stock: Math.round((rate * SECONDS) / 2),
            }),
          );
      console.log(
        `## today's design at DynamoDB's numbers (${AWS_WCU} WCU per item, transactions 2 WCU), ${SECONDS} s of arrivals\n`,
      );
      console.log(`${table(today)}\n`);
    }

    await emulation(emulated.url, { itemWcu: SCALE_WCU });
    const scaled: Row[] = [];
    for (const strategy of K_STRATEGIES)
      for (const shards of K_LIST)
        scaled.push(
          await flashCrowd(client, emulated.url, adminToken, buyers, {
            label: 'scale',
            strategy,
            shards,
            rate: K_RATE,
            stock: Math.round((K_RATE * SECONDS) / 2),
          }),
        );
    console.log(
      `## scale model: ${SCALE_WCU} WCU per item (1/${AWS_WCU / SCALE_WCU} of DynamoDB's), one hot product in K items, ${SECONDS} s of arrivals\n`,
    );
    console.log(`${table(scaled)}\n`);
    console.log(`load average (1 min) at end: ${loadavg()[0]?.toFixed(2)} on ${cpus().length} cores`);
    if ([...today, ...scaled].some((r) => r.oversold > 0)) process.exitCode = 1;

    const rateOf = (shards: number) =>
      scaled.find((r) => r.shards === shards && r.strategy === K_STRATEGIES[0])?.purchasesPerSecond ?? 0;
    const [low, high] = [Math.min(...K_LIST), Math.max(...K_LIST)];
    const ratio = rateOf(low) > 0 ? rateOf(high) / rateOf(low) : 0;
    console.log(`shard speed-up: ${ratio.toFixed(2)}x`);
  } finally {
    runtime?.child.kill('SIGTERM');
    await Promise.all(stopping.map((p) => p.stop()));
  }
}

await main();
