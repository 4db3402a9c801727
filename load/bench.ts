/**
 * `npm run bench`: the numbers the README quotes, printed in one run on this machine.
 * `npm run bench -- cold`: the cold-start section (3.) alone.
 * `npm run bench -- refusals [--profile]`: the sold-out refusal ratio alone (and where its CPU went).
 *
 *  1. The library against a private redis-server (load/lib/reserve.ts): atomic reserve
 *     (check-and-decrement + hold) per second and lock acquire+release pairs per second, beside
 *     redis-benchmark's EVALSHA rate of the same script with as many connections as callers.
 *     Then Redis round trips per purchase (load/lib/round-trips.ts) and sold-out refusals against a
 *     bare Node HTTP server (load/lib/refusals.ts), each printed as a named ratio line.
 *  2. End to end through the local runtime (a child process: the API Gateway adapter and the real
 *     handlers over redis-server and DynamoDB Local), 300 buyers on 100 units per strategy, both as
 *     a burst (all at once) and as 300 arrivals 3 ms apart (the first-come-first-served check).
 *  3. Cold start per deployed function (load/lib/cold-start.ts): bundle size as Lambda gets it, time
 *     from a fresh Node process to the handler module ready, and to its first answer against a
 *     private redis-server and DynamoDB Local.
 *
 * Setup (users, tokens, products) is not timed. Latency is measured per request, client side.
 * The last line sums up the hot path: `hot path: refusals <r1>% of bare HTTP, lock hand-over p50
 * <ms> ms, reserve <r2>% of EVALSHA`.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDynamoDbLocal, startRedisServer } from '../bin/local/processes.ts';
import { newSigningKey, publicKeyOf } from '../shared/auth/keys.ts';
import {
  createDocumentClient,
  createDynamoClient,
  createTables,
  ProductRepository,
  PurchaseRepository,
} from '../shared/db/index.ts';
import { type BundleSaleResult, bundleSale } from './bundle-sale.ts';
import { coldStartsAnswered, coldStartTable, measureColdStarts, nodeBaseline } from './lib/cold-start.ts';
import { type Api, api, startRuntime, users } from './lib/local.ts';
import { measureLockHandover } from './lib/lock-handover.ts';
import { profileMarkdown, summarizeProfiles } from './lib/profile.ts';
import { measureRefusals, type RefusalResult, refusalLine, refusalTable } from './lib/refusals.ts';
import { measureReserve, reserveLine, timeOps } from './lib/reserve.ts';
import { countRoundTrips, roundTripTable } from './lib/round-trips.ts';

const BUYERS = Number(process.env.BENCH_BUYERS ?? 300);
const UNITS = Number(process.env.BENCH_UNITS ?? 100);
const LIB_OPS = Number(process.env.BENCH_LIB_OPS ?? 50_000);
const CONCURRENCY = 64;
const WARM_UP_PURCHASES = Number(process.env.BENCH_WARM_UP_PURCHASES ?? 4_000);
const COLD_RUNS = Number(process.env.BENCH_COLD_RUNS ?? 5);
const REFUSAL_SECONDS = Number(process.env.BENCH_REFUSAL_SECONDS ?? 5);
/** Kept-alive connections of the refusal rounds, one buyer each, on both servers. */
const REFUSAL_CONNECTIONS = 32;
// The SDK's "Node 22 from 2027" notice is known (README); in a printed table it is noise.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** Push purchases through the runtime (32 at a time) so neither the handlers nor the JVM are cold. */
async function warmUp(client: Api, adminToken: string, token: string, purchases: number) {
  const product = (
    await client.call(
      'POST',
      '/api/products',
      { name: 'warm-up', price: 1, stock: purchases, strategy: 'atomic' },
      adminToken,
    )
  ).body;
  let left = purchases;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (left-- > 0)
        await client.call('POST', '/api/purchases', { product_id: product.id, quantity: 1 }, token);
    }),
  );
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
const round = (n: number, digits = 1) => Number(n.toFixed(digits));

/** DynamoDB Local's own ceiling for the durable write (purchase + conditional decrement of one row). */
async function durableWriteBench(endpoint: string) {
  const cfg = { AWS_REGION: 'us-east-1', DYNAMODB_ENDPOINT: endpoint };
  await createTables(createDynamoClient(cfg), {
    users: 'users',
    products: 'products',
    purchases: 'purchases',
  });
  const doc = createDocumentClient(cfg);
  const products = new ProductRepository(doc, 'products');
  const purchases = new PurchaseRepository(doc, 'purchases', 'products');
  const id = await products.nextId();
  const at = new Date().toISOString();
  await products.create({
    id,
    name: 'ceiling',
    description: null,
    price: 1,
    stock: 1e9,
    initial_stock: 1e9,
    strategy: 'atomic',
    created_at: at,
    updated_at: at,
  });
  const record = (key: string) =>
    purchases.record({
      id: key,
      user_id: 0,
      items: [{ product_id: id, quantity: 1, unit_price: 1, total_price: 1 }],
      lines: [{ product_id: id, quantity: 1 }],
      total_price: 1,
      purchased_at: at,
    });
  for (let i = 0; i < 100; i++) await record(`warm-${i}`);
  const sequential = await timeOps(300, 1, (i) => record(`seq-${i}`));
  const parallel = await timeOps(300, 32, (i) => record(`par-${i}`));
  return { sequential: Math.round(sequential), parallel: Math.round(parallel) };
}

interface SaleResult {
  strategy: string;
  arrival: string;
  requests: number;
  sold: number;
  oversold: number;
  soldOut: number;
  lockConflicts: number;
  errors5xx: number;
  purchasesPerSecond: number;
  requestsPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  fcfs: string;
  auditConsistent: boolean;
}

async function sale(
  client: Api,
  adminToken: string,
  buyers: string[],
  strategy: 'lock' | 'atomic',
  gapMs: number,
): Promise<SaleResult> {
  const product = (
    await client.call(
      'POST',
      '/api/products',
      { name: `bench-${strategy}-${gapMs}`, price: 1000, stock: UNITS, strategy },
      adminToken,
    )
  ).body;
  const started = performance.now();
  const replies = await Promise.all(
    buyers.map(async (token, order) => {
      if (gapMs > 0) await sleep(order * gapMs);
      const sent = performance.now();
      const reply = await client.call(
        'POST',
        '/api/purchases',
        { product_id: product.id, quantity: 1 },
        token,
      );
      return { order, sent, done: performance.now(), ...reply };
    }),
  );
  const lastSale = Math.max(...replies.filter((r) => r.status === 200).map((r) => r.done));
  const ended = Math.max(...replies.map((r) => r.done));
  const latencies = replies.map((r) => r.ms).sort((a, b) => a - b);
  const sold = replies.filter((r) => r.status === 200).length;
  const firstArrivals = [...replies].sort((a, b) => a.sent - b.sent).slice(0, UNITS);
  const audit = (await client.call('GET', '/api/admin/inventory/verify', undefined, adminToken)).body;
  const row = audit.products.find((p: { product_id: number }) => p.product_id === product.id);
  return {
    strategy,
    arrival: gapMs > 0 ? `${buyers.length} arrivals ${gapMs} ms apart` : `${buyers.length} at once`,
    requests: replies.length,
    sold,
    oversold: Math.max(0, row.sold - UNITS) + Math.max(0, sold - UNITS),
    soldOut: replies.filter((r) => r.status === 400).length,
    lockConflicts: replies.filter((r) => r.status === 409).length,
    errors5xx: replies.filter((r) => r.status >= 500).length,
    purchasesPerSecond: Math.round(sold / ((lastSale - started) / 1000)),
    requestsPerSecond: Math.round(replies.length / ((ended - started) / 1000)),
    p50: round(percentile(latencies, 50)),
    p95: round(percentile(latencies, 95)),
    p99: round(percentile(latencies, 99)),
    max: round(latencies.at(-1) ?? 0),
    fcfs: `${firstArrivals.filter((r) => r.status === 200).length}/${UNITS}`,
    auditConsistent: row.ok && row.sold === sold,
  };
}

/** What the last line of `npm run bench` sums up: the hot path's three ratios. */
interface HotPath {
  refusals?: RefusalResult;
  /** The median gap between a release and the next holder's grant (load/lib/lock-handover.ts). */
  lockHandoverP50Ms?: number;
  reserveShareOfEvalsha?: number;
}

const hotPathLine = (h: HotPath) =>
  `hot path: refusals ${h.refusals?.sharePercent ?? 'n/a'}% of bare HTTP, lock hand-over p50 ${h.lockHandoverP50Ms ?? 'n/a'} ms, reserve ${h.reserveShareOfEvalsha ?? 'n/a'}% of EVALSHA`;

async function main(hot: HotPath) {
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.version}`;
  console.log(`# bench ${new Date().toISOString()} on ${machine}\n`);
  console.log(
    `load average at start: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (the machine may be shared)\n`,
  );
  // DynamoDB Local starts after the library's rounds: a JVM starting (and compiling) beside them
  // took CPU from one side of the reserve/EVALSHA comparison more than from the other.
  const redis = await startRedisServer();
  let dynamo: Awaited<ReturnType<typeof startDynamoDbLocal>> | undefined;
  let runtime: { url: string; child: ChildProcess } | undefined;
  try {
    const library = await measureReserve({
      redisUrl: redis.url,
      port: redis.port,
      operations: LIB_OPS,
      concurrency: CONCURRENCY,
    });
    hot.reserveShareOfEvalsha = library.reserveShareOfEvalsha;
    console.log(
      `## library (one redis-server, ${CONCURRENCY} concurrent callers on ${library.connections} ioredis connections, REDIS_CONNECTIONS; redis-benchmark with ${CONCURRENCY} connections)\n`,
    );
    console.log('| measure | per second |\n|---|---|');
    console.log(
      `| stockReserve (check-and-decrement + hold), ${library.connections} connections | ${library.reservesPerSecond} |`,
    );
    console.log(
      `| stockReserve (check-and-decrement + hold), 1 connection | ${library.reservesPerSecondOneConnection} |`,
    );
    console.log(`| lock acquire + release pairs | ${library.lockPairsPerSecond} |`);
    console.log(
      `| redis-benchmark EVALSHA of the same script (${CONCURRENCY} connections) | ${library.evalshaPerSecond} |`,
    );
    console.log(`| library reserve as share of redis-benchmark | ${library.reserveShareOfEvalsha}% |\n`);
    console.log(`${reserveLine(library)}\n`);
    const handover = await measureLockHandover();
    hot.lockHandoverP50Ms = handover.p50;
    console.log(
      `lock hand-over: p50 ${handover.p50} ms, p99 ${handover.p99} ms, FIFO ${handover.fifo ? 'yes' : 'no'}\n`,
    );

    await redis.stop();
    dynamo = await startDynamoDbLocal();
    const e2eRedis = await startRedisServer();
    const admin = { ADMIN_USERNAME: 'bench_admin', ADMIN_PASSWORD: 'bench-admin-password' };
    runtime = await startRuntime({
      REDIS_URL: e2eRedis.url,
      DYNAMODB_ENDPOINT: dynamo.url,
      BCRYPT_COST: '4', // setup only: 300 registrations; login cost is not what this measures
      RECONCILE_ON_START: 'false',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...admin,
    });
    const client = api(runtime.url);
    const adminToken = (
      await client.call('POST', '/api/auth/login', {
        username: admin.ADMIN_USERNAME,
        password: admin.ADMIN_PASSWORD,
      })
    ).body.access_token;
    const buyers = await users(client, BUYERS, 'buyer');
    // Warm the handlers (the first call of each pays module loading), as a warm Lambda would be.
    const warm = (
      await client.call('POST', '/api/products', { name: 'warm', price: 1, stock: 10 }, adminToken)
    ).body;
    await client.call('POST', '/api/purchases', { product_id: warm.id, quantity: 1 }, buyers[0]);
    // DynamoDB Local is a JVM: until its JIT has compiled the transaction path it commits less than
    // half as many purchases per second (load/README.md). DynamoDB has no such warm-up; measuring a
    // cold DynamoDB Local would measure the stand-in, not the service.
    await warmUp(client, adminToken, buyers[0] as string, WARM_UP_PURCHASES);

    const durable = await durableWriteBench(dynamo.url);
    console.log(
      '## the durable write alone (DynamoDB Local, purchase + conditional decrement of one product row)\n',
    );
    console.log('| callers | transactions per second |\n|---|---|');
    console.log(`| 1 | ${durable.sequential} |\n| 32 | ${durable.parallel} |\n`);

    const roundTrips = await countRoundTrips({ redisUrl: e2eRedis.url, dynamoEndpoint: dynamo.url });
    console.log(
      "## Redis round trips per purchase (one purchase at a time, the purchase function's wiring)\n",
    );
    console.log(`${roundTripTable(roundTrips)}\n`);

    const refusalBuyers = await users(client, REFUSAL_CONNECTIONS, 'refused');
    hot.refusals = await soldOutRefusals(client, runtime, adminToken, refusalBuyers);
    console.log(
      '## sold-out refusals against the HTTP floor (the same client, the same connections, in turns)\n',
    );
    console.log(`${refusalTable(hot.refusals)}\n`);
    console.log(`${refusalLine(hot.refusals)}\n`);

    const results: SaleResult[] = [];
    for (const strategy of ['lock', 'atomic'] as const) {
      for (const gap of [0, 3]) results.push(await sale(client, adminToken, buyers, strategy, gap));
    }
    console.log(
      `## end to end: ${BUYERS} buyers, ${UNITS} units, local runtime (one process) + redis-server + DynamoDB Local\n`,
    );
    console.log(
      '| strategy | arrivals | sold | oversold | 400 sold out | 409 | 5xx | purchases/s | requests/s | p50 ms | p95 ms | p99 ms | max ms | first 100 served | audit |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const r of results) {
      console.log(
        `| ${r.strategy} | ${r.arrival} | ${r.sold} | ${r.oversold} | ${r.soldOut} | ${r.lockConflicts} | ${r.errors5xx} | ${r.purchasesPerSecond} | ${r.requestsPerSecond} | ${r.p50} | ${r.p95} | ${r.p99} | ${r.max} | ${r.fcfs} | ${r.auditConsistent ? 'consistent' : 'INCONSISTENT'} |`,
      );
    }
    const lockBurst = results.find((r) => r.strategy === 'lock' && r.arrival.endsWith('at once'));
    console.log(
      `\nlock burst: ${round(((lockBurst?.purchasesPerSecond ?? 0) / durable.parallel) * 100)}% of durable-write rate (${lockBurst?.purchasesPerSecond}/s vs ${durable.parallel}/s)`,
    );
    const bundles: BundleSaleResult[] = [];
    for (const strategy of ['lock', 'atomic'] as const) {
      bundles.push(await bundleSale(client, adminToken, buyers.slice(0, 200), strategy));
    }
    console.log('\n## carts: 200 buyers at once, 3 distinct products per cart, 10 products × 100 units\n');
    console.log(
      '| strategy | carts | sold | 400 sold out | 409 | 5xx | carts/s | p50 ms | p99 ms | every product exact |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|---|');
    for (const b of bundles) {
      console.log(
        `| ${b.strategy} | ${b.carts} | ${b.sold} | ${b.soldOut} | ${b.lockConflicts} | ${b.errors5xx} | ${b.cartsPerSecond} | ${b.p50} | ${b.p99} | ${b.exact ? 'yes' : 'NO'} |`,
      );
    }
    mkdirSync('load/results', { recursive: true });
    const file = `load/results/bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
    writeFileSync(
      file,
      JSON.stringify(
        {
          machine,
          date: new Date().toISOString(),
          library,
          handover,
          durable,
          roundTrips,
          refusals: hot.refusals,
          results,
          bundles,
        },
        null,
        2,
      ),
    );
    console.log(`\nraw results: ${file}`);
    await e2eRedis.stop();
    if (results.some((r) => r.oversold > 0 || !r.auditConsistent) || bundles.some((b) => !b.exact))
      process.exitCode = 1;
  } finally {
    runtime?.child.kill('SIGINT');
    await redis.stop();
    await dynamo?.stop();
  }
}

/**
 * Section 3: every function's bundle, fresh processes importing it and answering one request. Its own
 * redis-server and DynamoDB Local (tables created, empty), so nothing of the sections before warms it.
 */
async function coldStartBench(machine: string) {
  console.log(
    `## cold start per function (esbuild as lib/endpoint-function.ts; fresh \`node --enable-source-maps\` per run, ${COLD_RUNS} runs; ${machine})\n`,
  );
  const busyBefore = loadavg()[0]?.toFixed(2);
  const [redis, dynamo] = await Promise.all([startRedisServer(), startDynamoDbLocal()]);
  const signingKey = newSigningKey();
  try {
    const env = {
      STAGE: 'bench',
      LOG_LEVEL: 'INFO',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      DYNAMODB_ENDPOINT: dynamo.url,
      REDIS_URL: redis.url,
      JWT_SIGNING_KEY: JSON.stringify(signingKey),
      // Outside the local stage a verifier needs its public keys named (config.ts).
      JWT_VERIFY_KEYS: JSON.stringify([publicKeyOf(signingKey)]),
      // A deployed function's bindings (outside the local stage nothing falls back to a default).
      USERS_TABLE: 'users',
      PRODUCTS_TABLE: 'products',
      PURCHASES_TABLE: 'purchases',
      ORDERS_TABLE: 'orders',
      AUDIT_TABLE: 'audit',
      STORE_ID: 'bench',
    };
    await createTables(createDynamoClient(env), {
      users: 'users',
      products: 'products',
      purchases: 'purchases',
      orders: 'orders',
      audit: 'audit',
    });
    const outDir = 'load/results/cold-start';
    const baseline = await nodeBaseline(outDir, COLD_RUNS);
    const results = await measureColdStarts({ outDir, runs: COLD_RUNS, env });
    console.log(coldStartTable(results, baseline));
    // Timings from fresh processes are only as quiet as the machine: say how busy it was.
    console.log(
      `\nload average (1 min) before: ${busyBefore}, after: ${loadavg()[0]?.toFixed(2)} on ${cpus().length} cores`,
    );
    mkdirSync('load/results', { recursive: true });
    const file = `load/results/cold-start-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
    writeFileSync(
      file,
      JSON.stringify({ machine, date: new Date().toISOString(), baseline, results }, null, 2),
    );
    console.log(`\nraw results: ${file}`);
    if (!coldStartsAnswered(results)) process.exitCode = 1;
  } finally {
    await Promise.all([redis.stop(), dynamo.stop()]);
  }
}

/**
 * `npm run bench -- refusals [--profile]`: the refusal ratio alone (section 4's first line), on its
 * own redis-server, DynamoDB Local and runtime; `--profile` CPU-profiles the runtime (every thread)
 * and prints where its time went.
 */
async function refusalsOnly(profile: boolean) {
  const [redis, dynamo] = await Promise.all([startRedisServer(), startDynamoDbLocal()]);
  const profileDir = `load/results/refusals-profile-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  let runtime: { url: string; child: ChildProcess } | undefined;
  try {
    const admin = { ADMIN_USERNAME: 'bench_admin', ADMIN_PASSWORD: 'bench-admin-password' };
    runtime = await startRuntime(
      {
        REDIS_URL: redis.url,
        DYNAMODB_ENDPOINT: dynamo.url,
        BCRYPT_COST: '4',
        RECONCILE_ON_START: 'false',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        ...admin,
      },
      profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
    );
    const client = api(runtime.url);
    const adminToken = (
      await client.call('POST', '/api/auth/login', {
        username: admin.ADMIN_USERNAME,
        password: admin.ADMIN_PASSWORD,
      })
    ).body.access_token;
    const buyers = await users(client, REFUSAL_CONNECTIONS, 'refused');
    await warmUp(client, adminToken, buyers[0] as string, 500);
    const result = await soldOutRefusals(client, runtime, adminToken, buyers);
    console.log(`${refusalTable(result)}\n`);
    console.log(refusalLine(result));
  } finally {
    if (runtime) {
      const exited = new Promise((resolve) => runtime?.child.once('exit', resolve));
      runtime.child.kill('SIGINT');
      await exited;
    }
    await Promise.all([redis.stop(), dynamo.stop()]);
  }
  if (profile) {
    const summary = summarizeProfiles(profileDir, 'runtime during the refusal rounds');
    if (summary) console.log(`\n${profileMarkdown([summary])}`);
  }
}

/** A sold-out product and the refusal rounds against it. */
async function soldOutRefusals(
  client: Api,
  runtime: { url: string; child: ChildProcess },
  adminToken: string,
  buyers: readonly string[],
) {
  const product = (
    await client.call('POST', '/api/products', { name: 'sold out', price: 1, stock: 0 }, adminToken)
  ).body;
  return measureRefusals({
    runtime: { url: runtime.url, pid: runtime.child.pid },
    productId: product.id,
    tokens: buyers,
    connections: REFUSAL_CONNECTIONS,
    seconds: REFUSAL_SECONDS,
  });
}

if (process.argv[2] === 'refusals') {
  await refusalsOnly(process.argv.includes('--profile'));
} else if (process.argv[2] === 'cold') {
  await coldStartBench(`${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.version}`);
} else {
  const hot: HotPath = {};
  try {
    await main(hot);
    console.log('');
    await coldStartBench(`${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.version}`);
  } finally {
    // The last line, whatever happened before it: the hot path's ratios (n/a where not measured).
    console.log(`\n${hotPathLine(hot)}`);
  }
}
