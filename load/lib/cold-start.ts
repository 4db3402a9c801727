/**
 * Cold start, per function of the route table (shared/routes.ts: httpRoutes, fallbackRoute,
 * scheduledFunctions), measured on this machine the way Lambda pays it:
 *
 *  - bundle size: esbuild with the options of lib/endpoint-function.ts (ESM, node target, minified,
 *    the createRequire banner, `@aws-sdk/*` external, mainFields module,main, a source map without
 *    the sources). The numbers are the bytes Lambda loads, so they move when the code does.
 *  - ready: a fresh `node` (with `--enable-source-maps`, which the deployed functions set in
 *    NODE_OPTIONS) imports the bundle; `performance.now()` when the module is loaded and `handler`
 *    exists, i.e. from process start to the end of Lambda's init phase.
 *  - first answer: the same process then invokes the handler once with an API Gateway v2 event for
 *    a cheap request (see `probeOf`) against a local redis-server and DynamoDB Local, and prints
 *    `performance.now()` when the answer is there: init plus the first invocation's own work
 *    (the composition root, the first connections, the JIT of the path).
 * Each figure is the median of several fresh processes.
 *
 * Reusable: `npm run bench` and `npm run bench -- cold` print the table; the same code measures a
 * later restructure ("after") as it measured the current one ("before").
 */
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build } from 'esbuild';
import { fallbackRoute, httpRoutes, scheduledFunctions } from '#shared/routes';

const projectRoot = fileURLToPath(new URL('../../', import.meta.url));

/** What lib/endpoint-function.ts hands NodejsFunction's bundling (kept in step with it by hand). */
export const lambdaBundleOptions: BuildOptions = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  minify: true,
  sourcemap: true,
  sourcesContent: false,
  mainFields: ['module', 'main'],
  external: ['@aws-sdk/*'],
  banner: {
    js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
  },
  logLevel: 'warning',
};

/** The request a function's first invocation answers. */
export interface Probe {
  /** What the request is, for the table ("GET /api/health", "401 (forged token)", "scheduled"). */
  readonly label: string;
  readonly event: unknown;
  /** The status it should get ("done" for a scheduled function that returns nothing). */
  readonly expected: number | 'done';
}

export interface ColdFunction {
  readonly name: string;
  /** The route or schedule that invokes it. */
  readonly trigger: string;
  readonly probe: Probe;
}

export interface ColdStart {
  readonly name: string;
  readonly trigger: string;
  readonly bundleBytes: number;
  readonly mapBytes: number;
  readonly probe: string;
  /** Statuses the first invocations answered (one per run; they should all be `expected`). */
  readonly statuses: readonly (number | string)[];
  readonly expected: number | 'done';
  readonly runs: number;
  /** Medians, ms from process start (wall clock). */
  readonly readyMs: number;
  readonly firstAnswerMs: number;
  /**
   * Medians of the CPU the process had used by then (user + system, all its threads), ms: far less
   * sensitive than the wall clock to whatever else the machine runs.
   */
  readonly readyCpuMs: number;
  readonly firstAnswerCpuMs: number;
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? Number.NaN)
    : ((sorted[mid - 1] ?? Number.NaN) + (sorted[mid] ?? Number.NaN)) / 2;
};

/** A token that is well formed but signed with another key: the 401 that still runs the token check. */
function forgedToken(): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ sub: '1', role: 'user', exp: 4_102_444_800 })}`;
  return `${body}.${createHmac('sha256', randomBytes(32)).update(body).digest('base64url')}`;
}

/** An API Gateway HTTP API (payload 2.0) event, as the deployed function receives it. */
export function httpEvent(
  method: string,
  path: string,
  options: {
    routeKey?: string;
    headers?: Record<string, string>;
    body?: string;
    pathParameters?: Record<string, string>;
  } = {},
): unknown {
  const now = new Date();
  const routeKey = options.routeKey ?? `${method} ${path}`;
  return {
    version: '2.0',
    routeKey,
    rawPath: path,
    rawQueryString: '',
    headers: { host: 'bench.local', 'user-agent': 'cold-start-bench', ...options.headers },
    requestContext: {
      accountId: '000000000000',
      apiId: 'bench',
      domainName: 'bench.local',
      domainPrefix: 'bench',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'cold-start-bench' },
      requestId: randomBytes(8).toString('hex'),
      routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(options.pathParameters !== undefined && { pathParameters: options.pathParameters }),
    ...(options.body !== undefined && { body: options.body }),
    isBase64Encoded: false,
  };
}

/**
 * The cheapest request that still runs each kind of function's own path: health answers 200 after
 * asking Redis and DynamoDB; an authenticated route gets a well-formed token signed with another key,
 * so the answer (401) comes after the composition root was built and the token was checked; a public
 * route with a body gets `{}` (422, validation); the fallback route an unknown path (404); a scheduled
 * function its EventBridge event (one pass over the empty tables).
 */
export function probeOf(route: { method: string; path: string; access: 'public' | 'user' | 'admin' }): Probe {
  if (route.path === '$default')
    return {
      label: 'GET /api/no-such-route → 404',
      event: httpEvent('GET', '/api/no-such-route', { routeKey: '$default' }),
      expected: 404,
    };
  // Path parameters as API Gateway passes them: an id of 1, or the docs page's stylesheet.
  const sample = (name: string) => (name === 'asset' ? 'swagger-ui.css' : '1');
  const names = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string);
  const pathParameters =
    names.length === 0 ? undefined : Object.fromEntries(names.map((n) => [n, sample(n)]));
  const path = route.path.replace(/\{(\w+)\}/g, (_, name: string) => sample(name));
  const routeKey = `${route.method} ${route.path}`;
  const json = { 'content-type': 'application/json' };
  if (route.access !== 'public') {
    return {
      label: `${route.method} ${route.path}, forged token → 401`,
      event: httpEvent(route.method, path, {
        routeKey,
        pathParameters,
        headers: { ...json, authorization: `Bearer ${forgedToken()}` },
        ...(route.method !== 'GET' && { body: '{}' }),
      }),
      expected: 401,
    };
  }
  if (route.method === 'GET')
    return {
      label: `${routeKey} → 200`,
      event: httpEvent(route.method, path, { routeKey, pathParameters }),
      expected: 200,
    };
  return {
    label: `${routeKey}, body {} → 422`,
    event: httpEvent(route.method, path, { routeKey, pathParameters, headers: json, body: '{}' }),
    expected: 422,
  };
}

function scheduledEvent(): unknown {
  return {
    version: '0',
    id: randomBytes(8).toString('hex'),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '000000000000',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: ['arn:aws:events:us-east-1:000000000000:rule/bench'],
    detail: {},
  };
}

/** Every function the stack deploys, in route-table order. */
export function coldStartFunctions(): ColdFunction[] {
  return [
    ...httpRoutes.map((r) => ({ name: r.function, trigger: `${r.method} ${r.path}`, probe: probeOf(r) })),
    { name: fallbackRoute.function, trigger: '$default', probe: probeOf(fallbackRoute) },
    ...scheduledFunctions.map((s) => ({
      name: s.function,
      trigger: `every ${s.everyMinutes} min`,
      probe: { label: 'scheduled event', event: scheduledEvent(), expected: 'done' as const },
    })),
  ];
}

/** functions/<name>.ts, or functions/<name>/index.ts once a function needs a folder. */
export function entryOf(name: string, root = projectRoot): string {
  const file = join(root, 'functions', `${name}.ts`);
  if (existsSync(file)) return file;
  const folder = join(root, 'functions', name, 'index.ts');
  if (existsSync(folder)) return folder;
  throw new Error(`no entry for function ${name} (functions/${name}.ts or functions/${name}/index.ts)`);
}

/**
 * The function's bundle as Lambda would get it, at `<outDir>/<name>/index.mjs`. `outDir` must lie
 * inside the project: `@aws-sdk/*` stays external and is resolved from its node_modules, as the
 * Lambda runtime resolves it from its own copy of the SDK.
 */
export async function bundleFunction(
  name: string,
  outDir: string,
): Promise<{ file: string; bytes: number; mapBytes: number }> {
  const file = resolve(outDir, name, 'index.mjs');
  await build({
    ...lambdaBundleOptions,
    entryPoints: [entryOf(name)],
    outfile: file,
    absWorkingDir: projectRoot,
  });
  return { file, bytes: statSync(file).size, mapBytes: statSync(`${file}.map`).size };
}

/**
 * The probe each fresh process runs: import the bundle, note when it is ready, invoke the handler
 * once (when given an event) and note when the answer is there. One line on stdout carries the
 * numbers; whatever the function logs goes around it.
 */
const probeSource = `import { pathToFileURL } from 'node:url';
const [file, eventFile] = process.argv.slice(2);
const mod = await import(pathToFileURL(file).href);
if (typeof mod.handler !== 'function') throw new Error(file + ' exports no handler');
const ready = performance.now();
const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const readyCpu = cpuMs();
let answered = null;
let answeredCpu = null;
let status = null;
if (eventFile) {
  const { readFileSync } = await import('node:fs');
  const event = JSON.parse(readFileSync(eventFile, 'utf8'));
  const deadline = Date.now() + 10000;
  const context = {
    callbackWaitsForEmptyEventLoop: false, functionName: 'bench', functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:bench', memoryLimitInMB: '1024',
    awsRequestId: 'bench', logGroupName: '/aws/lambda/bench', logStreamName: 'bench',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done() {}, fail() {}, succeed() {},
  };
  try {
    const result = await mod.handler(event, context);
    status = result === undefined || result === null ? 'done' : (result.statusCode ?? 'done');
  } catch (error) {
    status = 'threw: ' + (error && error.message);
  }
  answered = performance.now();
  answeredCpu = cpuMs();
}
process.stdout.write('\\n@@cold ' + JSON.stringify({ ready, readyCpu, answered, answeredCpu, status }) + '\\n');
// A moment for what the invocation sent without waiting (X-Ray's UDP datagrams), as a frozen
// sandbox would still send it; the numbers above are already taken.
setTimeout(() => process.exit(0), 100);
`;

interface ProbeRun {
  ready: number;
  readyCpu: number;
  answered: number | null;
  answeredCpu: number | null;
  status: number | string | null;
}

function runProbe(probeFile: string, args: string[], env: NodeJS.ProcessEnv): Promise<ProbeRun> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--enable-source-maps', probeFile, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.stderr.on('data', (chunk) => {
      err += chunk;
    });
    child.once('error', reject);
    child.once('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('@@cold '));
      if (!line) {
        reject(new Error(`cold-start probe exited ${code} without a result: ${err.slice(-2_000)}`));
        return;
      }
      resolvePromise(JSON.parse(line.slice('@@cold '.length)) as ProbeRun);
    });
  });
}

export interface ColdStartOptions {
  /** Where bundles, events and the probe go; must lie inside the project (see bundleFunction). */
  readonly outDir: string;
  /** Fresh processes per function. */
  readonly runs: number;
  /** The environment of every probe process: local Redis, DynamoDB Local, a signing key. */
  readonly env: Record<string, string>;
  readonly functions?: readonly ColdFunction[];
  readonly log?: (line: string) => void;
}

/** Node's own start: the probe importing an empty module (the floor under every "ready"), wall and CPU ms. */
export async function nodeBaseline(
  outDir: string,
  runs: number,
): Promise<{ readyMs: number; readyCpuMs: number }> {
  const dir = resolve(outDir);
  mkdirSync(dir, { recursive: true });
  const probe = join(dir, 'probe.mjs');
  const empty = join(dir, 'empty.mjs');
  writeFileSync(probe, probeSource);
  writeFileSync(empty, 'export const handler = async () => undefined;\n');
  const done: ProbeRun[] = [];
  for (let i = 0; i < runs; i++) done.push(await runProbe(probe, [empty], { PATH: process.env.PATH ?? '' }));
  return { readyMs: median(done.map((r) => r.ready)), readyCpuMs: median(done.map((r) => r.readyCpu)) };
}

export async function measureColdStarts(options: ColdStartOptions): Promise<ColdStart[]> {
  const dir = resolve(options.outDir);
  mkdirSync(dir, { recursive: true });
  const probe = join(dir, 'probe.mjs');
  writeFileSync(probe, probeSource);
  const env = { PATH: process.env.PATH ?? '', ...options.env };
  const results: ColdStart[] = [];
  for (const fn of options.functions ?? coldStartFunctions()) {
    const bundle = await bundleFunction(fn.name, dir);
    const eventFile = join(dir, fn.name, 'event.json');
    writeFileSync(eventFile, JSON.stringify(fn.probe.event));
    const runs: ProbeRun[] = [];
    for (let i = 0; i < options.runs; i++) runs.push(await runProbe(probe, [bundle.file, eventFile], env));
    const result: ColdStart = {
      name: fn.name,
      trigger: fn.trigger,
      bundleBytes: bundle.bytes,
      mapBytes: bundle.mapBytes,
      probe: fn.probe.label,
      statuses: runs.map((r) => r.status ?? 'none'),
      expected: fn.probe.expected,
      runs: runs.length,
      readyMs: median(runs.map((r) => r.ready)),
      firstAnswerMs: median(runs.map((r) => r.answered ?? Number.NaN)),
      readyCpuMs: median(runs.map((r) => r.readyCpu)),
      firstAnswerCpuMs: median(runs.map((r) => r.answeredCpu ?? Number.NaN)),
    };
    options.log?.(
      `  ${fn.name}: ${(result.bundleBytes / 1024).toFixed(0)} KB, ready ${result.readyMs.toFixed(0)} ms (CPU ${result.readyCpuMs.toFixed(0)}), first answer ${result.firstAnswerMs.toFixed(0)} ms (CPU ${result.firstAnswerCpuMs.toFixed(0)}) (${[...new Set(result.statuses)].join(', ')})`,
    );
    results.push(result);
  }
  return results;
}

const kb = (bytes: number) => (bytes / 1024).toFixed(1);
const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '–');

/** The markdown table `npm run bench -- cold` prints. */
export function coldStartTable(
  results: readonly ColdStart[],
  baseline?: { readyMs: number; readyCpuMs: number },
): string {
  const rows = results.map((r) => {
    const statuses = [...new Set(r.statuses.map(String))].join(', ');
    const ok = r.statuses.every((s) => s === r.expected);
    return `| ${r.name} | ${r.trigger} | ${kb(r.bundleBytes)} | ${kb(r.mapBytes)} | ${ms(r.readyMs)} | ${ms(r.readyCpuMs)} | ${ms(r.firstAnswerMs)} | ${ms(r.firstAnswerCpuMs)} | ${r.probe} | ${ok ? statuses : `${statuses} (expected ${r.expected})`} |`;
  });
  const total = results.reduce((sum, r) => sum + r.bundleBytes, 0);
  return [
    '| function | trigger | bundle KB | map KB | ready ms | ready CPU ms | first answer ms | first answer CPU ms | first request | answered |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    ...(baseline === undefined
      ? []
      : [
          `| (node itself, empty module) | – | – | – | ${ms(baseline.readyMs)} | ${ms(baseline.readyCpuMs)} | – | – | – | – |`,
        ]),
    '',
    `${results.length} functions, ${kb(total)} KB of bundles in all. Medians of ${results[0]?.runs ?? 0} fresh processes each: ms from process start (wall clock), and the CPU the process had used by then (user + system, every thread), which a busy machine inflates far less.`,
  ].join('\n');
}

/** True when every first invocation answered what its probe expects (a wrong status means a broken path). */
export function coldStartsAnswered(results: readonly ColdStart[]): boolean {
  return results.every((r) => r.statuses.every((s) => s === r.expected));
}
