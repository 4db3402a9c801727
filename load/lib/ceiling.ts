/**
 * `npm run load -- ceiling`: how many requests per second the load generators themselves can make
 * on this machine, and the service's raw ceilings, so every scenario's numbers can be read against
 * them. Two cores are shared by the generator, the runtime (one Node process), DynamoDB Local and
 * Redis, so a generator's own CPU is taken from the service: the CPU column says who ran out.
 *
 * Targets: a bare Node HTTP server answering `{}` (nothing to measure but the generator), the
 * runtime's GET /api/health (the adapter, the middy chain, a Redis PING and a DynamoDB GetItem), a
 * purchase of a sold-out product (refused from Redis, DynamoDB untouched: the flash crowd's 90%),
 * and purchases of a product with plenty of stock per strategy (every one a DynamoDB transaction).
 * Shapes: 32 virtual users looping on kept-alive connections (the most a generator can push), and
 * for the bare server one request per new virtual user (how the flash crowd arrives). The loops run
 * again with autocannon, which spends far less CPU per request; purchase rows end with the service's
 * audit of the product against the 200s the generator got.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { freePort, isListening } from '../../bin/local/processes.ts';
import { bundleProcessor, runArtillery } from './artillery.ts';
import { cpuSampler } from './cpu.ts';
import { users } from './local.ts';
import { machine, startLocalTarget, warmUp } from './runner.ts';

interface CeilingRow {
  /** Purchase rows: the audit of the product against the 200s the generator saw. */
  audit: string;
  target: string;
  generator: string;
  shape: string;
  requests: number;
  errors: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  cores: Record<string, number>;
  machineBusy: number | null;
}

async function bareServer(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const source = `require('node:http').createServer((q, s) => { s.writeHead(200, { 'content-type': 'application/json' }); s.end('{}'); }).listen(${port}, '127.0.0.1');`;
  const child = spawn(process.execPath, ['-e', source], { stdio: 'ignore' });
  while (!(await isListening(port))) await sleep(50);
  return { url: `http://127.0.0.1:${port}`, child };
}

interface Request {
  method: 'get' | 'post';
  url: string;
  json?: unknown;
  headers?: Record<string, string>;
}

/** 32 virtual users looping on kept-alive connections: the most a generator can push. */
const loop = (request: Request, seconds: number) => ({
  phases: [{ duration: 1, arrivalCount: 32 }],
  flow: [{ loop: [{ [request.method]: request }], whileTrue: 'beforeDeadline' }],
  variables: { runSeconds: seconds },
});

/** One request per arriving virtual user on a new connection: how the flash crowd arrives. */
const arrivals = (request: Request, seconds: number, rate: number) => ({
  phases: [{ duration: seconds, arrivalRate: rate }],
  flow: [{ [request.method]: request }],
  variables: {},
});

export async function measureCeiling(options: { outDir?: string | undefined; command: string }) {
  const date = new Date().toISOString();
  const dir = resolve(options.outDir ?? join('load', 'results', `${date.replace(/[:.]/g, '-')}-ceiling`));
  mkdirSync(dir, { recursive: true });
  const processor = await bundleProcessor(join(dir, 'processor.cjs'));
  const seconds = Number(process.env.LOAD_CEILING_SECONDS ?? 15);
  const rows: CeilingRow[] = [];
  const bare = await bareServer();
  const local = await startLocalTarget();
  try {
    const [token] = await users(local.client, 1, 'load_ceiling', 'load-ceiling-password');
    await warmUp(local, { token: token ?? '', userId: 0 }, 4_000);
    /** A purchase request on a fresh product (0 units: refused from Redis; many units: durable). */
    const purchaseOf = async (stock: number, strategy: 'lock' | 'atomic'): Promise<Request> => {
      const product = await local.client.call(
        'POST',
        '/api/products',
        { name: `ceiling ${stock} ${strategy}`, price: 1, stock, strategy },
        local.adminToken,
      );
      return {
        method: 'post',
        url: '/api/purchases',
        json: { product_id: product.body.id, quantity: 1 },
        headers: { authorization: `Bearer ${token}` },
      };
    };
    /**
     * For purchase rows: does the service's own audit agree with the 200s the generator got? A
     * generator that stops on time cuts off the requests in flight (up to one per connection): the
     * service still completes them, so after a pause the audit may count up to 32 more than were
     * answered, never fewer.
     */
    const audit = async (request: Request, acknowledged: number): Promise<string> => {
      if (request.url !== '/api/purchases') return '–';
      await sleep(2_000);
      const productId = (request.json as { product_id: number }).product_id;
      const reply = await local.client.call(
        'GET',
        '/api/admin/inventory/verify',
        undefined,
        local.adminToken,
      );
      const row = (reply.body.products as { product_id: number; sold: number; ok: boolean }[]).find(
        (p) => p.product_id === productId,
      );
      const cutOff = (row?.sold ?? 0) - acknowledged;
      return row?.ok && cutOff >= 0 && cutOff <= 32
        ? `ok (${row.sold} sold${cutOff > 0 ? `, ${cutOff} of them cut off unanswered at the stop` : ''})`
        : `MISMATCH ${JSON.stringify(row)} against ${acknowledged} answered`;
    };
    const bareGet: Request = { method: 'get', url: '/' };
    const health: Request = { method: 'get', url: '/api/health' };
    const onBare = { target: 'bare Node server', url: bare.url, pids: { server: bare.child.pid } };
    const onRuntime = (target: string) => ({ target, url: local.url, pids: local.pids });
    const kept = 'loop, 32 kept-alive users';
    const runs = [
      { ...onBare, shape: kept, request: async () => bareGet },
      {
        ...onBare,
        shape: 'new user per request, 1,500/s offered',
        request: async () => bareGet,
        arrivals: 1_500,
      },
      { ...onRuntime('runtime GET /api/health'), shape: kept, request: async () => health },
      {
        ...onRuntime('runtime POST /api/purchases, sold out (Redis only)'),
        shape: kept,
        request: () => purchaseOf(0, 'atomic'),
      },
      {
        ...onRuntime('runtime POST /api/purchases, in stock, atomic (durable)'),
        shape: kept,
        request: () => purchaseOf(1_000_000, 'atomic'),
      },
      {
        ...onRuntime('runtime POST /api/purchases, in stock, lock (durable)'),
        shape: kept,
        request: () => purchaseOf(1_000_000, 'lock'),
      },
    ];
    for (const run of runs) {
      const request = await run.request();
      const { phases, flow, variables } =
        'arrivals' in run ? arrivals(request, seconds, run.arrivals ?? 0) : loop(request, seconds);
      const runDir = join(dir, `${run.target}-${run.shape}`.replace(/[^\w]+/g, '-'));
      mkdirSync(runDir, { recursive: true });
      const cpu = cpuSampler();
      for (const [name, pid] of Object.entries({ ...run.pids, runner: process.pid })) cpu.watch(name, pid);
      const result = await runArtillery({
        script: {
          config: { target: run.url, http: { timeout: 30 }, phases, processor, variables },
          scenarios: [{ name: 'ceiling', flow }],
        },
        dir: runDir,
        cpu,
      });
      cpu.stop();
      const { counters, summaries } = result.report.aggregate;
      const window = (result.window.to - result.window.from) / 1000;
      const usage = cpu.usage(result.window.from, result.window.to);
      const row: CeilingRow = {
        audit: await audit(request, counters['http.codes.200'] ?? 0),
        target: run.target,
        generator: 'artillery 2.0.21',
        shape: run.shape,
        requests: counters['http.requests'] ?? 0,
        errors:
          (counters['vusers.failed'] ?? 0) +
          Object.entries(counters)
            .filter(([name]) => /^http\.codes\.5\d\d$/.test(name))
            .reduce((sum, [, n]) => sum + n, 0),
        requestsPerSecond: Math.round((counters['http.responses'] ?? 0) / window),
        p50: summaries['http.response_time']?.p50 ?? Number.NaN,
        p99: summaries['http.response_time']?.p99 ?? Number.NaN,
        cores: usage.cores,
        machineBusy: usage.machineBusy,
      };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
    // The same loops with autocannon, in this process: a generator that costs far less CPU per
    // request, so on two cores the service gets the core artillery would take.
    for (const run of runs.filter((r) => !('arrivals' in r))) {
      const spec = await run.request();
      const cpu = cpuSampler();
      for (const [name, pid] of Object.entries({ ...run.pids, autocannon: process.pid }))
        cpu.watch(name, pid);
      const result = await autocannon({
        url: `${run.url}${spec.url}`,
        connections: 32,
        duration: seconds,
        method: spec.method === 'post' ? 'POST' : 'GET',
        headers: { 'content-type': 'application/json', ...spec.headers },
        ...(spec.json !== undefined && { body: JSON.stringify(spec.json) }),
      });
      cpu.stop();
      const usage = cpu.usage(result.start.getTime(), result.finish.getTime());
      const row: CeilingRow = {
        audit: await audit(spec, result.statusCodeStats['200']?.count ?? 0),
        target: run.target,
        generator: 'autocannon 9.0.0',
        shape: run.shape,
        requests: result.requests.total,
        errors:
          result.errors +
          result.timeouts +
          Object.entries(result.statusCodeStats)
            .filter(([code]) => Number(code) >= 500)
            .reduce((sum, [, s]) => sum + s.count, 0),
        requestsPerSecond: Math.round(result.requests.average),
        p50: result.latency.p50,
        p99: result.latency.p99,
        cores: usage.cores,
        machineBusy: usage.machineBusy,
      };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  } finally {
    bare.child.kill();
    await local.stop();
  }
  const table = [
    `# Load generator ceiling ${date}`,
    '',
    `${machine()}. Reproduce: \`${options.command}\`.`,
    '',
    '| target | generator | shape | requests | errors | requests/s | p50 ms | p99 ms | cores used | machine busy | audit |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.target} | ${r.generator} | ${r.shape} | ${r.requests} | ${r.errors} | ${r.requestsPerSecond} | ${r.p50} | ${r.p99} | ${Object.entries(
          r.cores,
        )
          .map(([n, c]) => `${n} ${c}`)
          .join(
            ', ',
          )} | ${r.machineBusy === null ? '–' : `${Math.round(r.machineBusy * 100)}%`} | ${r.audit} |`,
    ),
    '',
  ].join('\n');
  writeFileSync(join(dir, 'ceiling.md'), table);
  writeFileSync(join(dir, 'ceiling.json'), JSON.stringify({ machine: machine(), date, rows }, null, 2));
  console.log(`\n${table}`);
}
