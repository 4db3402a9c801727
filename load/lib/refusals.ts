/**
 * Sold-out refusals against the HTTP floor: the same client (autocannon, in this process, kept-alive
 * connections) drives a bare Node HTTP server answering a fixed 400 and the local runtime refusing a
 * purchase of a sold-out product, at the same concurrency, in the same run. The ratio of the two
 * rates is what the service's refusal costs beyond HTTP itself.
 *
 * Both servers run in child processes, so neither shares an event loop with the client. The machine
 * is shared (two cores: client, server, redis-server, DynamoDB Local), so the rounds alternate
 * bare / runtime and each side's rate is summed over its rounds: a busy moment weighs on both.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { freePort, isListening } from '../../bin/local/processes.ts';
import { cpuSampler } from './cpu.ts';

/** The contract's sold-out body, as the runtime answers it, so both send about the same bytes. */
const SOLD_OUT_BODY = JSON.stringify({
  detail: 'Insufficient stock for product 1: requested 1, available 0',
  code: 'INSUFFICIENT_STOCK',
});

/** A Node HTTP server that answers every request with a fixed 400, in a child process. */
export async function startBareRefusalServer(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const source = `const body = ${JSON.stringify(SOLD_OUT_BODY)};
require('node:http').createServer((q, s) => { q.resume(); q.on('end', () => { s.writeHead(400, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }); s.end(body); }); }).listen(${port}, '127.0.0.1');`;
  const child = spawn(process.execPath, ['-e', source], { stdio: 'ignore' });
  while (!(await isListening(port))) await sleep(50);
  return { url: `http://127.0.0.1:${port}`, child };
}

export interface RefusalTarget {
  readonly url: string;
  readonly pid: number | undefined;
}

export interface RefusalSide {
  readonly requests: number;
  readonly perSecond: number;
  /** Answers other than 400 (a 200 would mean the product was not sold out; a 5xx a failure). */
  readonly not400: number;
  readonly errors: number;
  readonly p50: number;
  readonly p99: number;
  /** Cores the server process used on average (the runtime: its gateway and worker threads). */
  readonly serverCores: number | null;
  /**
   * The server's CPU time per answer (µs): on a shared machine a steadier measure than the rate,
   * which counts the other tenants' load too.
   */
  readonly serverCpuMicros: number | null;
  readonly clientCores: number | null;
}

export interface RefusalResult {
  readonly connections: number;
  readonly seconds: number;
  readonly rounds: number;
  readonly bare: RefusalSide;
  readonly runtime: RefusalSide;
  /** runtime rate / bare rate, in percent. */
  readonly sharePercent: number;
  readonly machineBusy: number | null;
}

interface Round {
  total: number;
  ms: number;
  not400: number;
  errors: number;
  p50: number[];
  p99: number[];
  serverCpu: number;
  clientCpu: number;
}

async function drive(
  target: RefusalTarget,
  request: { path: string; body: string; tokens: readonly string[] },
  connections: number,
  seconds: number,
  into: Round,
): Promise<number | null> {
  const cpu = cpuSampler(100);
  cpu.watch('server', target.pid);
  cpu.watch('client', process.pid);
  let connection = 0;
  const headersOf = (i: number) => ({
    'content-type': 'application/json',
    authorization: `Bearer ${request.tokens[i % request.tokens.length]}`,
  });
  const result = await autocannon({
    url: `${target.url}${request.path}`,
    connections,
    duration: seconds,
    method: 'POST',
    headers: headersOf(0),
    body: request.body,
    // One buyer per connection, as a crowd is many buyers (one would meet its in-flight limit).
    setupClient: (client) => client.setHeaders(headersOf(connection++)),
  });
  cpu.stop();
  const usage = cpu.usage(result.start.getTime(), result.finish.getTime());
  const ms = result.finish.getTime() - result.start.getTime();
  into.total += result.requests.total;
  into.ms += ms;
  into.not400 += Object.entries(result.statusCodeStats)
    .filter(([code]) => code !== '400')
    .reduce((sum, [, s]) => sum + s.count, 0);
  into.errors += result.errors + result.timeouts;
  into.p50.push(result.latency.p50);
  into.p99.push(result.latency.p99);
  into.serverCpu += (usage.cores.server ?? 0) * ms;
  into.clientCpu += (usage.cores.client ?? 0) * ms;
  return usage.machineBusy;
}

const emptyRound = (): Round => ({
  total: 0,
  ms: 0,
  not400: 0,
  errors: 0,
  p50: [],
  p99: [],
  serverCpu: 0,
  clientCpu: 0,
});

function side(round: Round): RefusalSide {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  return {
    requests: round.total,
    perSecond: Math.round(round.total / (round.ms / 1000)),
    not400: round.not400,
    errors: round.errors,
    p50: median(round.p50),
    p99: median(round.p99),
    serverCores: round.ms > 0 ? Number((round.serverCpu / round.ms).toFixed(2)) : null,
    serverCpuMicros: round.total > 0 ? Math.round((round.serverCpu * 1000) / round.total) : null,
    clientCores: round.ms > 0 ? Number((round.clientCpu / round.ms).toFixed(2)) : null,
  };
}

/**
 * Refusals per second of the runtime against the bare server. `productId` must be sold out and
 * `tokens` buyers'; a short warm-up on each side is not counted.
 */
export async function measureRefusals(options: {
  runtime: RefusalTarget;
  productId: number;
  /** Buyers' tokens, one per connection (cycled when fewer). */
  tokens: readonly string[];
  connections?: number;
  seconds?: number;
  rounds?: number;
}): Promise<RefusalResult> {
  const connections = options.connections ?? 32;
  const seconds = options.seconds ?? 5;
  const rounds = options.rounds ?? 2;
  const request = {
    path: '/api/purchases',
    body: JSON.stringify({ product_id: options.productId, quantity: 1 }),
    tokens: options.tokens,
  };
  const bareServer = await startBareRefusalServer();
  const bare: RefusalTarget = { url: bareServer.url, pid: bareServer.child.pid };
  try {
    await drive(bare, request, connections, 1, emptyRound());
    await drive(options.runtime, request, connections, 2, emptyRound());
    const bareRound = emptyRound();
    const runtimeRound = emptyRound();
    const busy: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const a = await drive(bare, request, connections, seconds, bareRound);
      const b = await drive(options.runtime, request, connections, seconds, runtimeRound);
      for (const x of [a, b]) if (x !== null) busy.push(x);
    }
    const bareSide = side(bareRound);
    const runtimeSide = side(runtimeRound);
    return {
      connections,
      seconds,
      rounds,
      bare: bareSide,
      runtime: runtimeSide,
      sharePercent: Number(((100 * runtimeSide.perSecond) / bareSide.perSecond).toFixed(1)),
      machineBusy: busy.length ? Number((busy.reduce((a, b) => a + b, 0) / busy.length).toFixed(2)) : null,
    };
  } finally {
    bareServer.child.kill();
  }
}

/** The named ratio line `npm run bench` prints. */
export const refusalLine = (r: RefusalResult) =>
  `refusals: ${r.sharePercent}% of bare HTTP (${r.runtime.perSecond}/s vs ${r.bare.perSecond}/s)`;

/** The table beside it: who used the cores, and whether every answer was the refusal. */
export function refusalTable(r: RefusalResult): string {
  const row = (name: string, s: RefusalSide) =>
    `| ${name} | ${s.requests} | ${s.perSecond} | ${s.not400} | ${s.errors} | ${s.p50} | ${s.p99} | ${s.serverCores ?? '–'} | ${s.serverCpuMicros ?? '–'} | ${s.clientCores ?? '–'} |`;
  return [
    `| server (${r.connections} kept-alive connections, autocannon, ${r.rounds} × ${r.seconds} s alternating) | requests | per second | not 400 | errors | p50 ms | p99 ms | server cores | server CPU µs per answer | client cores |`,
    '|---|---|---|---|---|---|---|---|---|---|',
    row('bare Node HTTP, fixed 400', r.bare),
    row('local runtime, POST /api/purchases of a sold-out product', r.runtime),
    '',
    `machine busy during the rounds: ${r.machineBusy === null ? '–' : `${Math.round(r.machineBusy * 100)}%`} of ${cpus().length} cores; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  ].join('\n');
}
