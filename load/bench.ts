/**
 * `npm run bench`: the numbers the README quotes, printed in one run on this machine.
 *
 *  1. The library against a private redis-server: atomic reserve (check-and-decrement + hold) per
 *     second and lock acquire+release pairs per second, beside redis-benchmark's EVALSHA rate of the
 *     same script on the same server.
 *  2. End to end through the local runtime (a child process: the API Gateway adapter and the real
 *     handlers over redis-server and DynamoDB Local), 300 buyers on 100 units per strategy, both as
 *     a burst (all at once) and as 300 arrivals 3 ms apart (the first-come-first-served check).
 *
 * Setup (users, tokens, products) is not timed. Latency is measured per request, client side.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, isListening, startDynamoDbLocal, startRedisServer } from '../bin/local/processes.ts';
import { RedisLock } from '../shared/lock/index.ts';
import { createRedis } from '../shared/redis.ts';
import { holdsKey, RedisStock, stockKey, stockScripts } from '../shared/stock/index.ts';


const BUYERS = Number(process.env.BENCH_BUYERS ?? 300);
const UNITS = Number(process.env.BENCH_UNITS ?? 100);
const LIB_OPS = Number(process.env.BENCH_LIB_OPS ?? 50_000);
const CONCURRENCY = 64;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
const round = (n: number, digits = 1) => Number(n.toFixed(digits));

async function timeOps(total: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await op(next++);
    }),
  );
  return total / ((performance.now() - started) / 1000);
}

async function libraryBench(redisUrl: string, port: number) {
  const redis = createRedis(redisUrl);
  const stock = new RedisStock(redis);
  const locks = new RedisLock(redis, { waitBudgetMs: 5_000 });
  await stock.load({ id: 1, stock: 1_000_000_000, price: 1, strategy: 'atomic' });
  await stock.reserve(1, 1, 'warm-up');
  const reservesPerSecond = await timeOps(LIB_OPS, CONCURRENCY, (i) => stock.reserve(1, 1, `h${i}`));
  const lockPairsPerSecond = await timeOps(LIB_OPS, CONCURRENCY, async (i) => {
    const lock = await locks.acquire(`bench-${i % 1024}`);
    await locks.release(lock);
  });
  redis.disconnect();

  // The same Lua, run by redis-benchmark (C, 50 connections) on the same server: the ceiling.
  const sha = createHash('sha1').update(stockScripts.stockReserve.lua).digest('hex');
  const output = execFileSync(
    'redis-benchmark',
    ['-p', String(port), '-n', String(LIB_OPS * 2), '-c', '50', '-r', '100000000', '-q', 'EVALSHA', sha, '2', stockKey(1), holdsKey(1), '1', 'rb:__rand_int__'],
    { encoding: 'utf8' },
  );
  const evalshaPerSecond = Number(/([\d.]+) requests per second/.exec(output)?.[1] ?? Number.NaN);
  return {
    reservesPerSecond: Math.round(reservesPerSecond),
    lockPairsPerSecond: Math.round(lockPairsPerSecond),
    evalshaPerSecond: Math.round(evalshaPerSecond),
    reserveShareOfEvalsha: round((reservesPerSecond / evalshaPerSecond) * 100),
  };
}

interface Api {
  url: string;
  call(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: any; ms: number }>;
}

function api(url: string): Api {
  return {
    url,
    async call(method, path, body, token) {
      const started = performance.now();
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : null, ms: performance.now() - started };
    },
  };
}

async function startRuntime(env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/start.ts'], {
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const deadline = Date.now() + 60_000;
  while (!(await isListening(port))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error('local runtime did not start');
    await sleep(100);
  }
  return { url: `http://127.0.0.1:${port}`, child };
}

async function users(client: Api, count: number, prefix: string): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < count; i += 50) {
    const batch = Array.from({ length: Math.min(50, count - i) }, (_, j) => `${prefix}_${i + j}`);
    tokens.push(
      ...(await Promise.all(
        batch.map(async (username) => {
          await client.call('POST', '/api/auth/register', { username, password: 'bench-password' });
          return (await client.call('POST', '/api/auth/login', { username, password: 'bench-password' })).body.access_token as string;
        }),
      )),
    );
  }
  return tokens;
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

async function sale(client: Api, adminToken: string, buyers: string[], strategy: 'lock' | 'atomic', gapMs: number): Promise<SaleResult> {
  const product = (await client.call('POST', '/api/products', { name: `bench-${strategy}-${gapMs}`, price: 1000, stock: UNITS, strategy }, adminToken)).body;
  const started = performance.now();
  const replies = await Promise.all(
    buyers.map(async (token, order) => {
      if (gapMs > 0) await sleep(order * gapMs);
      const sent = performance.now();
      const reply = await client.call('POST', '/api/purchases', { product_id: product.id, quantity: 1 }, token);
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

async function main() {
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.version}`;
  console.log(`# bench ${new Date().toISOString()} on ${machine}\n`);
  const [redis, dynamo] = await Promise.all([startRedisServer(), startDynamoDbLocal()]);
  let runtime: { url: string; child: ChildProcess } | undefined;
  try {
    const library = await libraryBench(redis.url, redis.port);
    console.log('## library (one redis-server, 64 concurrent callers, one ioredis connection)\n');
    console.log('| measure | per second |\n|---|---|');
    console.log(`| stockReserve (check-and-decrement + hold) | ${library.reservesPerSecond} |`);
    console.log(`| lock acquire + release pairs | ${library.lockPairsPerSecond} |`);
    console.log(`| redis-benchmark EVALSHA of the same script (50 connections) | ${library.evalshaPerSecond} |`);
    console.log(`| library reserve as share of redis-benchmark | ${library.reserveShareOfEvalsha}% |\n`);

    await redis.stop();
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
    const adminToken = (await client.call('POST', '/api/auth/login', { username: admin.ADMIN_USERNAME, password: admin.ADMIN_PASSWORD })).body.access_token;
    const buyers = await users(client, BUYERS, 'buyer');
    // Warm the handlers (the first call of each pays module loading), as a warm Lambda would be.
    const warm = (await client.call('POST', '/api/products', { name: 'warm', price: 1, stock: 10 }, adminToken)).body;
    await client.call('POST', '/api/purchases', { product_id: warm.id, quantity: 1 }, buyers[0]);

    const results: SaleResult[] = [];
    for (const strategy of ['lock', 'atomic'] as const) {
      for (const gap of [0, 3]) results.push(await sale(client, adminToken, buyers, strategy, gap));
    }
    console.log(`## end to end: ${BUYERS} buyers, ${UNITS} units, local runtime (one process) + redis-server + DynamoDB Local\n`);
    console.log('| strategy | arrivals | sold | oversold | 400 sold out | 409 | 5xx | purchases/s | requests/s | p50 ms | p95 ms | p99 ms | max ms | first 100 served | audit |');
    console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const r of results) {
      console.log(
        `| ${r.strategy} | ${r.arrival} | ${r.sold} | ${r.oversold} | ${r.soldOut} | ${r.lockConflicts} | ${r.errors5xx} | ${r.purchasesPerSecond} | ${r.requestsPerSecond} | ${r.p50} | ${r.p95} | ${r.p99} | ${r.max} | ${r.fcfs} | ${r.auditConsistent ? 'consistent' : 'INCONSISTENT'} |`,
      );
    }
    mkdirSync('load/results', { recursive: true });
    const file = `load/results/bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
    writeFileSync(file, JSON.stringify({ machine, date: new Date().toISOString(), library, results }, null, 2));
    console.log(`\nraw results: ${file}`);
    await e2eRedis.stop();
    if (results.some((r) => r.oversold > 0 || !r.auditConsistent)) process.exitCode = 1;
  } finally {
    runtime?.child.kill('SIGINT');
    await redis.stop();
    await dynamo.stop();
  }
}

await main();
