/**
 * One load session: a target (a private local stack, or an API that already runs), buyers with
 * tokens, then per scenario × strategy: fresh products, artillery, the verdict, the report.
 *
 * Local by default: a redis-server and an in-memory DynamoDB Local on free ports and the local
 * runtime (the real handlers behind the API Gateway adapter) as a child process, never a
 * developer's data. The runtime runs with BCRYPT_COST=4 because it only speeds up creating the
 * buyers: the scenarios send tokens made beforehand and never log in.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseConfig } from '#shared/config';
import { redisClient } from '#shared/wiring/redis';
import { reconciler } from '#shared/wiring/stock';
import { startDynamoDbLocal, startRedisServer } from '../../bin/local/processes.ts';
import { artilleryScript, type Scale, type ScenarioName, scenarios } from '../scenarios.ts';
import { type ArtilleryRun, bundleProcessor, runArtillery } from './artillery.ts';
import { type CpuSampler, cpuSampler } from './cpu.ts';
import { type Answer, type Attempt, readEvents } from './events.ts';
import { type Api, api, startRuntime, users } from './local.ts';
import {
  latencySvg,
  markdown,
  percentile,
  type RunMetrics,
  type RunResult,
  tableHeader,
  tableRow,
} from './report.ts';
import { apiSource, auditRows, type Buyer, type DurableSource, dynamoSource, verify } from './verify.ts';

export type Strategy = 'lock' | 'atomic';

export interface LoadOptions {
  readonly scenarios: readonly ScenarioName[];
  readonly strategies: readonly Strategy[];
  readonly scale: Scale;
  /** An API that already runs (local `npm start` or a deployed stage); a private local stack if absent. */
  readonly target?: string | undefined;
  /** Where the results go; load/results/<time>-<scale> if absent. */
  readonly outDir?: string | undefined;
  /** How to repeat this session, printed in the reports. */
  readonly command?: string;
  readonly log?: (line: string) => void;
}

export interface LoadSession {
  readonly dir: string;
  readonly results: RunResult[];
  readonly passed: boolean;
}

/** How the runner reaches the target and its data. */
export interface Target {
  readonly url: string;
  readonly adminToken: string;
  readonly client: Api;
  /** Pids whose CPU is worth reporting (local stack only). */
  readonly pids: Record<string, number | undefined>;
  durableSource(buyers: readonly Buyer[]): DurableSource;
  settle(productIds: number[]): Promise<string>;
  stop(): Promise<void>;
}

const LOCAL_ADMIN = { ADMIN_USERNAME: 'load_admin', ADMIN_PASSWORD: 'load-admin-password' };
const WARM_UP_PURCHASES = Number(process.env.LOAD_WARM_UP_PURCHASES ?? 4_000);
const BUYER_PASSWORD = process.env.LOAD_BUYER_PASSWORD ?? 'load-buyer-password';

export const machine = () =>
  `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;

async function login(client: Api, username: string, password: string): Promise<string> {
  const reply = await client.call('POST', '/api/auth/login', { username, password });
  if (reply.status !== 200) throw new Error(`admin login as ${username} answered ${reply.status}`);
  return reply.body.access_token as string;
}

/** The private local stack: redis-server, DynamoDB Local (in memory) and the runtime, on free ports. */
export async function startLocalTarget(): Promise<Target> {
  const [redis, dynamo] = await Promise.all([startRedisServer(), startDynamoDbLocal()]);
  let runtime: Awaited<ReturnType<typeof startRuntime>> | undefined;
  const stopAll = async () => {
    if (runtime && runtime.child.exitCode === null) {
      const exited = new Promise((resolve) => runtime?.child.once('exit', resolve));
      runtime.child.kill('SIGINT');
      await exited;
    }
    await Promise.all([redis.stop(), dynamo.stop()]);
  };
  try {
    runtime = await startRuntime({
      REDIS_URL: redis.url,
      DYNAMODB_ENDPOINT: dynamo.url,
      BCRYPT_COST: '4',
      RECONCILE_ON_START: 'false',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...LOCAL_ADMIN,
    });
    const client = api(runtime.url);
    const adminToken = await login(client, LOCAL_ADMIN.ADMIN_USERNAME, LOCAL_ADMIN.ADMIN_PASSWORD);
    // This process's own view of the stack (for the verdict): the providers read the environment.
    Object.assign(process.env, { REDIS_URL: redis.url, DYNAMODB_ENDPOINT: dynamo.url, LOG_LEVEL: 'ERROR' });
    const cfg = parseConfig();
    return {
      url: runtime.url,
      adminToken,
      client,
      pids: { runtime: runtime.child.pid, dynamodb: dynamo.child.pid, redis: redis.child.pid },
      durableSource: () =>
        dynamoSource({
          region: 'us-east-1',
          endpoint: dynamo.url,
          purchasesTable: cfg.PURCHASES_TABLE ?? 'purchases',
        }),
      settle: async () => {
        const summary = await (await reconciler.get()).reconcileAll();
        return `one reconcile pass (${summary.products} products: ${summary.restored} restored, ${summary.holdsCommitted} holds committed, ${summary.holdsReleased} released, ${summary.repaired} repaired)`;
      },
      stop: async () => {
        (await redisClient.get()).disconnect();
        await stopAll();
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/**
 * An API that already runs. Admin credentials from LOAD_ADMIN_USERNAME / LOAD_ADMIN_PASSWORD
 * (or ADMIN_USERNAME / ADMIN_PASSWORD). Purchases are listed from DynamoDB when LOAD_PURCHASES_TABLE
 * names the table (AWS credentials and AWS_REGION from the usual SDK chain; LOAD_DYNAMODB_ENDPOINT for
 * DynamoDB Local), else from every buyer's GET /api/purchases/me. Its Redis is not reachable from
 * here (ElastiCache lives in the VPC), so instead of reconciling, the verifier waits until the audit
 * is settled or the scheduled reconciler has had time to run (LOAD_SETTLE_SECONDS, 150 by default:
 * a hold becomes stale after 60 s and the reconciler runs every minute).
 */
export async function remoteTarget(url: string): Promise<Target> {
  const username = process.env.LOAD_ADMIN_USERNAME ?? process.env.ADMIN_USERNAME;
  const password = process.env.LOAD_ADMIN_PASSWORD ?? process.env.ADMIN_PASSWORD;
  if (!username || !password)
    throw new Error('--target needs an admin: set LOAD_ADMIN_USERNAME and LOAD_ADMIN_PASSWORD');
  const client = api(url.replace(/\/+$/, ''));
  const adminToken = await login(client, username, password);
  const table = process.env.LOAD_PURCHASES_TABLE;
  const settleSeconds = Number(process.env.LOAD_SETTLE_SECONDS ?? 150);
  return {
    url: client.url,
    adminToken,
    client,
    pids: {},
    durableSource: (buyers) =>
      table
        ? dynamoSource({
            region: process.env.AWS_REGION ?? 'us-east-1',
            endpoint: process.env.LOAD_DYNAMODB_ENDPOINT,
            purchasesTable: table,
          })
        : apiSource(client, buyers),
    settle: async (productIds) => {
      const started = Date.now();
      for (;;) {
        const rows = await auditRows(client, adminToken, productIds);
        const settled = rows.every((r) => r.held === 0 && r.redis_stock === r.db_stock);
        const waited = Math.round((Date.now() - started) / 1000);
        if (settled)
          return waited === 0
            ? 'none needed (already settled)'
            : `settled after ${waited} s (scheduled reconciler)`;
        if (waited >= settleSeconds)
          return `still unsettled after ${waited} s of waiting for the scheduled reconciler`;
        await sleep(5_000);
      }
    },
    stop: async () => undefined,
  };
}

function userIdOf(token: string): number {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
  return Number(payload.sub);
}

async function createProducts(
  target: Target,
  count: number,
  units: number,
  strategy: Strategy,
  label: string,
) {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    const reply = await target.client.call(
      'POST',
      '/api/products',
      { name: `${label} #${i + 1}`, price: 1_000, stock: units, strategy },
      target.adminToken,
    );
    if (reply.status !== 201) throw new Error(`creating a product answered ${reply.status}`);
    ids.push(reply.body.id as number);
  }
  return ids;
}

/**
 * Every handler's first call pays its module loading (a cold start); the runs should not. Full-scale
 * runs also push `purchases` purchases (32 at a time, half per strategy) through first: DynamoDB
 * Local is a JVM, and before its JIT has compiled the transaction path it commits less than half as
 * many purchases per second as after (measured here: 185/s cold, 510/s warm). DynamoDB itself has no
 * such warm-up, so measuring a cold DynamoDB Local would measure the stand-in, not the service.
 */
export async function warmUp(target: Target, buyer: Buyer, purchases: number) {
  for (const strategy of ['lock', 'atomic'] as const) {
    const [id] = await createProducts(target, 1, Math.max(1, purchases), strategy, `warm-up ${strategy}`);
    const buy = () =>
      target.client.call('POST', '/api/purchases', { product_id: id, quantity: 1 }, buyer.token);
    await buy();
    await target.client.call('GET', `/api/products/${id}/stock`, undefined, buyer.token);
    let left = Math.floor(purchases / 2);
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (left-- > 0) await buy();
      }),
    );
  }
  await target.client.call('GET', '/api/products', undefined, buyer.token);
  await target.client.call('GET', '/api/health');
}

function metricsOf(run: ArtilleryRun, attempts: readonly Attempt[], answers: readonly Answer[]): RunMetrics {
  const { counters, summaries } = run.report.aggregate;
  const seconds = Math.max(0.001, (run.window.to - run.window.from) / 1000);
  const http = summaries['http.response_time'];
  const sold = attempts.filter((a) => a.status === 200);
  const purchaseAnswers = answers.filter((a) => a.name === 'purchase' && a.status === 200);
  const firstSent = attempts[0]?.sentAt ?? 0;
  const lastSale = Math.max(0, ...purchaseAnswers.map((a) => a.at + a.ms));
  const buyMs = answers
    .filter((a) => a.name === 'purchase')
    .map((a) => a.ms)
    .sort((a, b) => a - b);
  const count = (name: string) => counters[name] ?? 0;
  return {
    requests: count('http.requests'),
    requestsPerSecond: count('http.responses') / seconds,
    purchases: sold.length,
    purchasesPerSecond:
      sold.length > 0 && lastSale > firstSent ? sold.length / ((lastSale - firstSent) / 1000) : 0,
    p50: http?.p50 ?? Number.NaN,
    p95: http?.p95 ?? Number.NaN,
    p99: http?.p99 ?? Number.NaN,
    purchaseP50: percentile(buyMs, 50),
    purchaseP95: percentile(buyMs, 95),
    purchaseP99: percentile(buyMs, 99),
    errors: count('load.errors') + count('vusers.failed'),
    lockConflicts: count('purchase.409'),
    soldOut: count('purchase.400'),
    seconds,
  };
}

async function runOne(
  target: Target,
  buyers: readonly Buyer[],
  options: { scenario: ScenarioName; strategy: Strategy; scale: Scale; dir: string; processor: string },
  cpu: CpuSampler,
): Promise<RunResult> {
  const scenario = scenarios[options.scenario];
  const params = scenario.params[options.scale];
  const dir = join(options.dir, `${scenario.name}-${options.strategy}`);
  mkdirSync(dir, { recursive: true });
  const productIds = await createProducts(
    target,
    params.products,
    params.units,
    options.strategy,
    `load ${scenario.name} ${options.strategy}`,
  );
  // Tokens are credentials: the file lives only while artillery runs.
  const buyersCsv = join(dir, 'buyers.csv');
  const rows = buyers.slice(0, params.arrivals.count).map((b) => `${b.token},${b.userId}`);
  writeFileSync(buyersCsv, `token,user_id\n${rows.join('\n')}\n`);
  const eventsDir = join(dir, 'events');
  const script = artilleryScript(scenario, params, {
    target: target.url,
    productIds,
    buyersCsv,
    processor: options.processor,
  });
  let run: ArtilleryRun;
  try {
    run = await runArtillery({ script, dir, eventsDir, cpu });
  } finally {
    rmSync(buyersCsv, { force: true });
  }
  const usage = cpu.usage(run.window.from, run.window.to);
  const { attempts, answers } = readEvents(eventsDir);
  const verdict = await verify({
    client: target.client,
    adminToken: target.adminToken,
    productIds,
    attempts,
    source: target.durableSource(buyers.slice(0, params.arrivals.count)),
    settle: () => target.settle(productIds),
  });
  const thresholdsPassed = run.exitCode === 0 && run.checks.every((c) => c.ok);
  const result: RunResult = {
    scenario: scenario.name,
    strategy: options.strategy,
    scale: options.scale,
    target: target.url,
    dir,
    summary: scenario.summary,
    params,
    productIds,
    metrics: metricsOf(run, attempts, answers),
    thresholds: { passed: thresholdsPassed, checks: run.checks },
    cpu: usage,
    verdict,
    passed: thresholdsPassed && verdict.passed,
  };
  writeFileSync(join(dir, 'verdict.json'), JSON.stringify(result, null, 2));
  const soldOutAt = verdict.products.every((p) => p.remaining === 0)
    ? Math.max(...answers.filter((a) => a.name === 'purchase' && a.status === 200).map((a) => a.at))
    : undefined;
  const title = `${scenario.name} × ${options.strategy} (${options.scale}): latency over time`;
  const marks = soldOutAt && Number.isFinite(soldOutAt) ? [{ at: soldOutAt, label: 'last unit sold' }] : [];
  writeFileSync(join(dir, 'latency.svg'), latencySvg(answers, title, marks));
  return result;
}

export async function runLoad(options: LoadOptions): Promise<LoadSession> {
  const log = options.log ?? ((line: string) => console.log(line));
  const date = new Date().toISOString();
  // Absolute: artillery resolves the payload path against the script's folder.
  const dir = resolve(
    options.outDir ?? join('load', 'results', `${date.replace(/[:.]/g, '-')}-${options.scale}`),
  );
  mkdirSync(dir, { recursive: true });
  const context = { machine: machine(), date, command: options.command ?? 'npm run load' };
  log(`load: ${options.scenarios.join(', ')} × ${options.strategies.join(', ')} (${options.scale}) → ${dir}`);

  const target = options.target ? await remoteTarget(options.target) : await startLocalTarget();
  const cpu = cpuSampler();
  for (const [name, pid] of Object.entries({ ...target.pids, runner: process.pid })) cpu.watch(name, pid);
  const results: RunResult[] = [];
  try {
    const needed = Math.max(
      ...options.scenarios.map((s) => scenarios[s].params[options.scale].arrivals.count),
    );
    const started = performance.now();
    const tokens = await users(target.client, needed, 'load_buyer', BUYER_PASSWORD);
    const buyers = tokens.map((token) => ({ token, userId: userIdOf(token) }));
    log(`  ${buyers.length} buyers ready in ${Math.round(performance.now() - started)} ms at ${target.url}`);
    await warmUp(target, buyers[0] as Buyer, options.scale === 'full' ? WARM_UP_PURCHASES : 0);
    const processor = await bundleProcessor(join(dir, 'processor.cjs'));

    for (const scenario of options.scenarios) {
      for (const strategy of options.strategies) {
        const result = await runOne(
          target,
          buyers,
          { scenario, strategy, scale: options.scale, dir, processor },
          cpu,
        );
        writeFileSync(join(result.dir, 'report.md'), markdown(result, context));
        results.push(result);
        const m = result.metrics;
        log(
          `  ${scenario} × ${strategy}: ${result.passed ? 'PASS' : 'FAIL'} (data ${result.verdict.passed ? 'ok' : 'VIOLATED'}, thresholds ${result.thresholds.passed ? 'ok' : 'missed'}); ${m.requests} requests, p99 ${m.p99} ms, oversold ${result.verdict.oversold}, FCFS ${result.verdict.fcfs.served}/${result.verdict.fcfs.first}`,
        );
        for (const check of [...result.thresholds.checks, ...result.verdict.checks]) {
          if (!check.ok)
            log(`    failed: ${'name' in check ? `${check.name} (${check.detail})` : check.expression}`);
        }
        // Let the runtime drain the last answers' logging before the next run measures it.
        await sleep(500);
      }
    }
  } finally {
    cpu.stop();
    await target.stop();
  }

  const summary = [
    `# Load session ${date}`,
    '',
    `${context.machine}; target ${options.target ?? 'private local stack (runtime + redis-server + DynamoDB Local)'}.`,
    `Reproduce: \`${context.command}\`.`,
    '',
    tableHeader,
    ...results.map(tableRow),
    '',
    ...results.map((r) => `- [${r.scenario} × ${r.strategy}](${r.scenario}-${r.strategy}/report.md)`),
    '',
  ].join('\n');
  writeFileSync(join(dir, 'summary.md'), summary);
  const passed = results.length > 0 && results.every((r) => r.passed);
  log(`load: ${passed ? 'PASS' : 'FAIL'}; summary in ${join(dir, 'summary.md')}`);
  return { dir, results, passed };
}
