/**
 * One load session: a target (a private local stack, or an API that already runs), buyers with
 * tokens, then per scenario × strategy: fresh products, artillery, the verdict, the report.
 *
 * Local by default: a redis-server and an in-memory DynamoDB Local on free ports and the local
 * runtime (the real handlers behind the API Gateway adapter) as a child process, never a
 * developer's data. That runtime runs with BCRYPT_COST=4 because it only speeds up creating the
 * buyers of the plain variants, which send tokens made beforehand and never log in. The sign-up
 * variants measure registering and logging in as real clients do, so all their traffic goes to a
 * second runtime over the same Redis and DynamoDB Local that runs with `npm start`'s defaults: the
 * deployed bcrypt cost (10, or `signupBcryptCost`) and every function in its own workers, so a
 * sign-up's hashing never shares an event loop with a purchase, as in Lambda. Started when first
 * needed.
 * Neither runtime reconciles on its own (RECONCILE_INTERVAL_MS=0): the verdict judges the data
 * before the one reconcile it runs itself.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseConfig } from '#shared/config';
import { createDocumentClient, ProductRepository } from '#shared/db';
import { productTable } from '#shared/wiring/dynamodb';
import { redisClient } from '#shared/wiring/redis';
import { reconciler } from '#shared/wiring/stock';
import { startDynamoDbLocal, startRedisServer } from '../../bin/local/processes.ts';
import { artilleryScript, latencyMetric, type Scale, type ScenarioName, scenarios } from '../scenarios.ts';
import { type ArtilleryRun, bundleProcessor, runArtillery } from './artillery.ts';
import { type CpuSampler, cpuSampler } from './cpu.ts';
import { type Answer, type Attempt, readEvents, type SignedUp } from './events.ts';
import { type Api, api, startRuntime, users } from './local.ts';
import { profileMarkdown, summarizeProfiles } from './profile.ts';
import {
  type EndpointLatency,
  latencySvg,
  markdown,
  percentile,
  type RunMetrics,
  type RunResult,
  tableHeader,
  tableRow,
} from './report.ts';
import {
  apiSource,
  auditRows,
  type Buyer,
  type DurableSource,
  dynamoSource,
  type Reconciliation,
  type Repairs,
  repairTotal,
  verify,
} from './verify.ts';

export type Strategy = 'lock' | 'atomic';

/** One run of a session: a scenario with one product strategy. */
export interface RunSpec {
  readonly scenario: ScenarioName;
  readonly strategy: Strategy;
}

/** Every scenario × every strategy, scenario by scenario. */
export const everyRun = (names: readonly ScenarioName[], strategies: readonly Strategy[]): RunSpec[] =>
  names.flatMap((scenario) => strategies.map((strategy) => ({ scenario, strategy })));

export interface LoadOptions {
  readonly runs: readonly RunSpec[];
  readonly scale: Scale;
  /** bcrypt cost of the local runtime the sign-up variants run against (default 10, the deployed one). */
  readonly signupBcryptCost?: number | undefined;
  /**
   * Profile the local runtimes' CPU (`--cpu-prof`, every worker thread included) and write where the
   * time went to profile.md beside the summary.
   */
  readonly profile?: boolean | undefined;
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

/** Where a run's traffic goes. */
export interface Endpoint {
  readonly url: string;
  /** bcrypt cost of the users it registers and logs in, when known (the local runtimes). */
  readonly bcryptCost: number | null;
  /** The process serving it, for the CPU report (local only). */
  readonly pid?: number | undefined;
}

/** How the runner reaches the target and its data. */
export interface Target {
  readonly url: string;
  readonly adminToken: string;
  readonly client: Api;
  /** Pids whose CPU is worth reporting (local stack only). */
  readonly pids: Record<string, number | undefined>;
  /** Where the runs send their traffic. */
  readonly endpoint: Endpoint;
  /** Where the sign-up variants register and log in; locally a runtime with the deployed bcrypt cost. */
  signupEndpoint(): Promise<Endpoint>;
  durableSource(buyers: () => Promise<readonly Buyer[]>): DurableSource;
  /** One reconcile of the given products (or waiting for the scheduled one), after the pre-repair check. */
  reconcile(productIds: number[]): Promise<Reconciliation>;
  stop(): Promise<void>;
}

const LOCAL_ADMIN = { ADMIN_USERNAME: 'load_admin', ADMIN_PASSWORD: 'load-admin-password' };
const WARM_UP_PURCHASES = Number(process.env.LOAD_WARM_UP_PURCHASES ?? 4_000);
const BUYER_PASSWORD = process.env.LOAD_BUYER_PASSWORD ?? 'load-buyer-password';
const SIGNUP_PASSWORD = process.env.LOAD_SIGNUP_PASSWORD ?? 'load-signup-password';
/** Enough parallel purchases to start every purchase worker of the sign-up runtime. */
const SIGNUP_WARM_UP_PURCHASES = 200;
/** How long holds still in flight after a run may take to settle by themselves before the verdict. */
const HOLD_SETTLE_MS = Number(process.env.LOAD_HOLD_SETTLE_SECONDS ?? 15) * 1000;
/** The bcrypt cost the service deploys with (shared/config.ts's default). */
export const DEPLOYED_BCRYPT_COST = 10;

export const machine = () =>
  `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;

async function login(client: Api, username: string, password: string): Promise<string> {
  const reply = await client.call('POST', '/api/auth/login', { username, password });
  if (reply.status !== 200) throw new Error(`login as ${username} answered ${reply.status}`);
  return reply.body.access_token as string;
}

const noRepairs = (): Repairs => ({
  restored: 0,
  holdsCommitted: 0,
  holdsReleased: 0,
  reservationsSettled: 0,
  repaired: 0,
});

/**
 * The private local stack: redis-server, DynamoDB Local (in memory) and the runtime, on free ports;
 * the sign-up variants' runtime (`signupBcryptCost`, default 10) is started on first use.
 */
export async function startLocalTarget(
  options: { signupBcryptCost?: number | undefined; profileDir?: string | undefined } = {},
): Promise<Target> {
  const profiled = (name: string) =>
    options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(options.profileDir, name)}`] : [];
  const [redis, dynamo] = await Promise.all([startRedisServer(), startDynamoDbLocal()]);
  const runtimes: Awaited<ReturnType<typeof startRuntime>>[] = [];
  const stopAll = async () => {
    await Promise.all(
      runtimes.map(async (runtime) => {
        if (runtime.child.exitCode !== null) return;
        const exited = new Promise((resolve) => runtime.child.once('exit', resolve));
        runtime.child.kill('SIGINT');
        await exited;
      }),
    );
    await Promise.all([redis.stop(), dynamo.stop()]);
  };
  const runtimeEnv = (bcryptCost: number) => ({
    REDIS_URL: redis.url,
    DYNAMODB_ENDPOINT: dynamo.url,
    BCRYPT_COST: String(bcryptCost),
    RECONCILE_ON_START: 'false',
    // No reconcile behind the verdict's back: it judges the data before it runs the one reconcile.
    RECONCILE_INTERVAL_MS: '0',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...LOCAL_ADMIN,
  });
  try {
    const runtime = await startRuntime(runtimeEnv(4), profiled('runtime'));
    runtimes.push(runtime);
    const client = api(runtime.url);
    const adminToken = await login(client, LOCAL_ADMIN.ADMIN_USERNAME, LOCAL_ADMIN.ADMIN_PASSWORD);
    // This process's own view of the stack (for the verdict): the providers read the environment,
    // including the store id the runtime keeps in the products table (its Redis key namespace).
    Object.assign(process.env, { REDIS_URL: redis.url, DYNAMODB_ENDPOINT: dynamo.url, LOG_LEVEL: 'ERROR' });
    process.env.STORE_ID = await new ProductRepository(
      createDocumentClient(parseConfig()),
      'products',
    ).storeId();
    const cfg = parseConfig();
    const signupCost = options.signupBcryptCost ?? DEPLOYED_BCRYPT_COST;
    let signup: Promise<Endpoint> | undefined;
    return {
      url: runtime.url,
      adminToken,
      client,
      pids: { runtime: runtime.child.pid, dynamodb: dynamo.child.pid, redis: redis.child.pid },
      endpoint: { url: runtime.url, bcryptCost: 4, pid: runtime.child.pid },
      signupEndpoint: () => {
        signup ??= (async () => {
          const second = await startRuntime(runtimeEnv(signupCost), profiled('sign-up-runtime'));
          runtimes.push(second);
          // Its workers' first calls pay module loading; the run should not, as a sale's provisioned
          // concurrency spares its buyers Lambda's cold starts. Every function the run calls gets warm
          // workers, the purchase function all of them (the warm-up buys with 32 in parallel).
          const client = api(second.url);
          const [token] = await users(client, 1, `load_warm_${Date.now().toString(36)}`, SIGNUP_PASSWORD);
          if (!token) throw new Error('the sign-up runtime gave the warm-up user no token');
          await warmUp({ client, adminToken }, { token, userId: userIdOf(token) }, SIGNUP_WARM_UP_PURCHASES);
          return { url: second.url, bcryptCost: signupCost, pid: second.child.pid };
        })();
        return signup;
      },
      durableSource: () =>
        dynamoSource({
          region: 'us-east-1',
          endpoint: dynamo.url,
          purchasesTable: cfg.PURCHASES_TABLE ?? 'purchases',
        }),
      reconcile: async (productIds) => {
        const repairs = noRepairs();
        for (const id of productIds) {
          const product = await (await productTable.get()).get(id, true);
          if (!product) throw new Error(`product ${id} is gone from DynamoDB`);
          const one = await (await reconciler.get()).reconcileProduct(product);
          for (const key of Object.keys(repairs) as (keyof Repairs)[])
            (repairs as Record<keyof Repairs, number>)[key] += one[key];
        }
        const n = productIds.length;
        return { summary: `one reconcile pass over the run's ${n} product${n === 1 ? '' : 's'}`, repairs };
      },
      stop: async () => {
        (await redisClient.get()).disconnect();
        // A sign-up runtime still starting would outlive the session otherwise.
        await signup?.catch(() => undefined);
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
  const endpoint = { url: client.url, bcryptCost: null };
  return {
    url: client.url,
    adminToken,
    client,
    pids: {},
    endpoint,
    signupEndpoint: async () => endpoint,
    durableSource: (buyers) =>
      table
        ? dynamoSource({
            region: process.env.AWS_REGION ?? 'us-east-1',
            endpoint: process.env.LOAD_DYNAMODB_ENDPOINT,
            purchasesTable: table,
          })
        : apiSource(client, buyers),
    // The stage reconciles on its schedule; the runner can only wait for it and cannot count its repairs.
    reconcile: async (productIds) => {
      const started = Date.now();
      for (;;) {
        const rows = await auditRows(client, adminToken, productIds);
        const settled = rows.every((r) => r.held === 0 && r.redis_stock === r.db_stock);
        const waited = Math.round((Date.now() - started) / 1000);
        if (settled)
          return {
            summary:
              waited === 0
                ? 'no reconcile needed (already settled)'
                : `settled after ${waited} s (scheduled reconciler)`,
            repairs: null,
          };
        if (waited >= settleSeconds)
          return {
            summary: `still unsettled after ${waited} s of waiting for the scheduled reconciler`,
            repairs: null,
          };
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

type Admin = Pick<Target, 'client' | 'adminToken'>;

async function createProducts(
  target: Admin,
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
export async function warmUp(target: Admin, buyer: Buyer, purchases: number) {
  const token = buyer.token;
  for (const strategy of ['lock', 'atomic'] as const) {
    const [id] = await createProducts(target, 1, Math.max(1, purchases), strategy, `warm-up ${strategy}`);
    const buy = () => target.client.call('POST', '/api/purchases', { product_id: id, quantity: 1 }, token);
    await buy();
    await target.client.call('GET', `/api/products/${id}/stock`, undefined, token);
    let left = Math.floor(purchases / 2);
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (left-- > 0) await buy();
      }),
    );
  }
  await target.client.call('GET', '/api/products', undefined, token);
  await target.client.call('GET', '/api/health');
}

/** p50/p95/p99 and count of a list of latencies, ms. */
function latencyOf(values: readonly number[]): EndpointLatency {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
  };
}

function metricsOf(
  run: ArtilleryRun,
  metric: string,
  attempts: readonly Attempt[],
  answers: readonly Answer[],
  signups: readonly number[],
  signupScenario: boolean,
): RunMetrics {
  const { counters, summaries } = run.report.aggregate;
  const seconds = Math.max(0.001, (run.window.to - run.window.from) / 1000);
  const latency = summaries[metric];
  const sold = attempts.filter((a) => a.status === 200);
  const purchaseAnswers = answers.filter((a) => a.name === 'purchase' && a.status === 200);
  const firstSent = attempts[0]?.sentAt ?? 0;
  const lastSale = Math.max(0, ...purchaseAnswers.map((a) => a.at + a.ms));
  const byName = new Map<string, number[]>();
  for (const a of answers) byName.set(a.name, [...(byName.get(a.name) ?? []), a.ms]);
  const endpoints = Object.fromEntries(
    ['register', 'login', 'list', 'stock', 'purchase', ...byName.keys()].flatMap((name) => {
      const values = byName.get(name);
      return values ? [[name, latencyOf(values)]] : [];
    }),
  );
  const buy = latencyOf(byName.get('purchase') ?? []);
  const count = (name: string) => counters[name] ?? 0;
  return {
    requests: count('http.requests'),
    requestsPerSecond: count('http.responses') / seconds,
    purchases: sold.length,
    purchasesPerSecond:
      sold.length > 0 && lastSale > firstSent ? sold.length / ((lastSale - firstSent) / 1000) : 0,
    p50: latency?.p50 ?? Number.NaN,
    p95: latency?.p95 ?? Number.NaN,
    p99: latency?.p99 ?? Number.NaN,
    purchaseP50: buy.p50,
    purchaseP95: buy.p95,
    purchaseP99: buy.p99,
    endpoints,
    signup: signupScenario ? latencyOf(signups) : null,
    errors: count('load.errors') + count('vusers.failed'),
    lockConflicts: count('purchase.409'),
    soldOut: count('purchase.400'),
    seconds,
  };
}

/** Tokens for the users a sign-up run registered (only a deployed stage's purchase listing needs them). */
async function logInAll(client: Api, signedUp: readonly SignedUp[]): Promise<Buyer[]> {
  const buyers: Buyer[] = [];
  for (let i = 0; i < signedUp.length; i += 8) {
    const batch = await Promise.all(
      signedUp.slice(i, i + 8).map(async (user) => ({
        token: await login(client, user.username, SIGNUP_PASSWORD),
        userId: user.userId,
      })),
    );
    buyers.push(...batch);
  }
  return buyers;
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
  // The sign-up variants send everything (register, login and the shopping) to a runtime with the
  // service's own defaults, as `npm start` runs it: bcrypt cost 10, every function in its own workers.
  const auth = scenario.signup ? await target.signupEndpoint() : undefined;
  const endpoint = auth ?? target.endpoint;
  if (auth) cpu.watch('sign-up runtime', auth.pid);
  const productIds = await createProducts(
    target,
    params.products,
    params.units,
    options.strategy,
    `load ${scenario.name} ${options.strategy}`,
  );
  // Tokens are credentials: the file lives only while artillery runs.
  const buyersCsv = scenario.signup ? undefined : join(dir, 'buyers.csv');
  const runBuyers = buyers.slice(0, params.arrivals.count);
  if (buyersCsv) {
    const rows = runBuyers.map((b) => `${b.token},${b.userId}`);
    writeFileSync(buyersCsv, `token,user_id\n${rows.join('\n')}\n`);
  }
  const eventsDir = join(dir, 'events');
  const script = artilleryScript(scenario, params, {
    target: endpoint.url,
    productIds,
    processor: options.processor,
    ...(buyersCsv
      ? { buyersCsv }
      : {
          // Unique per run, so a rerun against the same stage never meets its own users (a 409).
          userPrefix: `su${Date.now().toString(36)}${randomBytes(2).toString('hex')}`,
          signupPassword: SIGNUP_PASSWORD,
          authTarget: auth?.url ?? endpoint.url,
        }),
  });
  let run: ArtilleryRun;
  try {
    run = await runArtillery({ script, dir, eventsDir, cpu });
  } finally {
    if (buyersCsv) rmSync(buyersCsv, { force: true });
  }
  const usage = cpu.usage(run.window.from, run.window.to);
  const events = readEvents(eventsDir);
  const { attempts, answers } = events;
  const verdict = await verify({
    client: target.client,
    adminToken: target.adminToken,
    productIds,
    attempts,
    source: target.durableSource(async () =>
      scenario.signup ? logInAll(target.client, events.users) : runBuyers,
    ),
    reconcile: () => target.reconcile(productIds),
    holdSettleMs: HOLD_SETTLE_MS,
    fcfs: scenario.fcfs,
    fault: scenario.fault,
  });
  const thresholdsPassed = run.exitCode === 0 && run.checks.every((c) => c.ok);
  const result: RunResult = {
    scenario: scenario.name,
    strategy: options.strategy,
    scale: options.scale,
    target: endpoint.url,
    bcryptCost: (auth ?? endpoint).bcryptCost,
    signup: scenario.signup,
    dir,
    summary: scenario.summary,
    params,
    productIds,
    metrics: metricsOf(run, latencyMetric(scenario), attempts, answers, events.signups, scenario.signup),
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

const ms = (n: number) => (Number.isFinite(n) ? `${Math.round(n)} ms` : '–');

/** One line per run for the console. */
function runLine(r: RunResult): string {
  const m = r.metrics;
  const v = r.verdict;
  const repairs = v.repairs ? repairTotal(v.repairs) : 'n/a';
  const signup = m.signup ? `, sign-up p99 ${ms(m.signup.p99)} at bcrypt cost ${r.bcryptCost ?? '?'}` : '';
  return `  ${r.scenario} × ${r.strategy}: ${r.passed ? 'PASS' : 'FAIL'} (data ${v.passed ? 'ok' : 'VIOLATED'}, thresholds ${r.thresholds.passed ? 'ok' : 'missed'}); ${m.requests} requests, p99 ${ms(m.p99)}, purchase p99 ${ms(m.purchaseP99)}${signup}; before repair ${v.preRepair.agreed ? 'agreed' : 'DISAGREED'}, repairs ${repairs}, oversold ${v.oversold}, FCFS ${v.fcfs.served}/${v.fcfs.first} first served, ${v.fcfs.violations} out of turn`;
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
  log(
    `load: ${options.runs.map((r) => `${r.scenario} × ${r.strategy}`).join(', ')} (${options.scale}) → ${dir}`,
  );

  const target = options.target
    ? await remoteTarget(options.target)
    : await startLocalTarget({
        signupBcryptCost: options.signupBcryptCost,
        profileDir: options.profile ? join(dir, 'profiles') : undefined,
      });
  const cpu = cpuSampler();
  for (const [name, pid] of Object.entries({ ...target.pids, runner: process.pid })) cpu.watch(name, pid);
  const results: RunResult[] = [];
  try {
    // Buyers made beforehand, for the plain variants (and one for the warm-up).
    const needed = Math.max(
      1,
      ...options.runs
        .map((r) => scenarios[r.scenario])
        .filter((s) => !s.signup)
        .map((s) => s.params[options.scale].arrivals.count),
    );
    const started = performance.now();
    // The sign-up runtime starts beside the setup, which nothing measures (a failure surfaces in the
    // first run that needs it; stop() waits for a start still under way).
    if (options.runs.some((r) => scenarios[r.scenario].signup))
      target.signupEndpoint().catch(() => undefined);
    const tokens = await users(target.client, needed, 'load_buyer', BUYER_PASSWORD);
    const buyers = tokens.map((token) => ({ token, userId: userIdOf(token) }));
    log(`  ${buyers.length} buyers ready in ${Math.round(performance.now() - started)} ms at ${target.url}`);
    await warmUp(target, buyers[0] as Buyer, options.scale === 'full' ? WARM_UP_PURCHASES : 0);
    const processor = await bundleProcessor(join(dir, 'processor.cjs'));

    for (const { scenario, strategy } of options.runs) {
      const runStarted = performance.now();
      const result = await runOne(
        target,
        buyers,
        { scenario, strategy, scale: options.scale, dir, processor },
        cpu,
      );
      writeFileSync(join(result.dir, 'report.md'), markdown(result, context));
      results.push(result);
      log(`${runLine(result)} [${((performance.now() - runStarted) / 1000).toFixed(1)} s]`);
      for (const check of [...result.thresholds.checks, ...result.verdict.checks]) {
        if (!check.ok)
          log(`    failed: ${'name' in check ? `${check.name} (${check.detail})` : check.expression}`);
      }
      // Let the runtime drain the last answers' logging before the next run measures it.
      await sleep(500);
    }
  } finally {
    cpu.stop();
    await target.stop();
  }
  if (options.profile && !options.target) {
    // The runtimes have exited, so every thread has written its profile.
    const summaries = [
      summarizeProfiles(join(dir, 'profiles', 'runtime'), 'runtime (plain variants, bcrypt cost 4)'),
      summarizeProfiles(join(dir, 'profiles', 'sign-up-runtime'), "sign-up runtime (npm start's defaults)"),
    ].filter((s) => s !== null);
    writeFileSync(join(dir, 'profile.md'), profileMarkdown(summaries));
    log(`load: CPU profile in ${join(dir, 'profile.md')}`);
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
