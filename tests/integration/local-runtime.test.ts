/**
 * The local runtime's Lambda model (bin/local/function-pool.ts): each function in its own worker
 * threads, with a concurrency limit, cold starts, timeouts and a clean shutdown, over the test
 * Redis and DynamoDB Local and the real handlers. Sign-ups hash at bcrypt cost 10 here, the
 * production default, because the CPU they burn is the point.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiServer } from '../../bin/local/api-gateway.ts';
import { FunctionPool, type PoolEvent } from '../../bin/local/function-pool.ts';
import { freePort, isListening } from '../../bin/local/processes.ts';
import { type LocalRuntime, startLocalRuntime } from '../../bin/local/runtime.ts';
import { runtimeSettings } from '../../bin/local/settings.ts';
import { unique } from '../support/api.ts';

// Read lazily (at the first request), so this applies to this file's in-process handlers and to every
// worker spawned below, which copy this process's environment.
process.env.BCRYPT_COST = '10';
process.env.RECONCILE_INTERVAL_MS = '0';

const REGISTER_CONCURRENCY = 3;
const CROWD = 20;

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

async function signUp(url: string, username = unique('crowd'), password = 'password123') {
  const response = await fetch(`${url}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function health(url: string): Promise<number> {
  const started = performance.now();
  const response = await fetch(`${url}/api/health`);
  await response.text();
  if (response.status !== 200) throw new Error(`health answered ${response.status}`);
  return performance.now() - started;
}

/**
 * GET /api/health, one after another, for as long as a crowd of sign-ups is hashing. Every
 * function has served a request before (warm), so what is measured is the crowd, not cold starts.
 */
async function healthDuringSignUps(url: string) {
  await health(url);
  await Promise.all(range(REGISTER_CONCURRENCY).map(() => signUp(url, unique('warm'))));
  let hashing = true;
  const crowd = Promise.all(range(CROWD).map(() => signUp(url))).finally(() => {
    hashing = false;
  });
  const latencies: number[] = [];
  while (hashing) latencies.push(await health(url));
  return { latencies, statuses: (await crowd).map((reply) => reply.status) };
}

/** The most invocations whose [startedAt, endedAt) intervals overlap at one instant. */
function maxOverlap(invocations: readonly { startedAt: number; endedAt: number }[]): number {
  const edges = invocations.flatMap((i) => [
    { at: i.startedAt, delta: 1 },
    { at: i.endedAt, delta: -1 },
  ]);
  // An invocation that ends at the very ms another starts does not overlap it.
  edges.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let running = 0;
  let most = 0;
  for (const edge of edges) {
    running += edge.delta;
    most = Math.max(most, running);
  }
  return most;
}

const invocationsOf = (events: readonly PoolEvent[], name: string) =>
  events.filter(
    (e): e is Extract<PoolEvent, { type: 'invocation' }> =>
      e.type === 'invocation' && e.functionName === name,
  );

describe('the local runtime in worker mode', () => {
  let runtime: LocalRuntime;
  let inProcess: Server;
  let inProcessUrl: string;
  const lines: string[] = [];
  const events: PoolEvent[] = [];

  beforeAll(async () => {
    runtime = await startLocalRuntime({
      port: 0,
      log: (line) => lines.push(line),
      settings: runtimeSettings({
        ...process.env,
        LOCAL_RUNTIME: 'workers',
        LOCAL_CONCURRENCY_REGISTER_USER: String(REGISTER_CONCURRENCY),
      }),
      onPoolEvent: (event) => events.push(event),
    });
    inProcess = createApiServer();
    inProcessUrl = await listen(inProcess);
  });

  afterAll(async () => {
    await runtime?.stop();
    if (inProcess) await close(inProcess);
  });

  it('keeps /api/health fast while a crowd of sign-ups hashes in other workers, unlike one event loop', async () => {
    const before = await healthDuringSignUps(inProcessUrl);
    const after = await healthDuringSignUps(runtime.url);

    expect(before.statuses).toEqual(range(CROWD).map(() => 201));
    expect(after.statuses).toEqual(range(CROWD).map(() => 201));
    console.log(
      `health during ${CROWD} sign-ups: in-process median ${median(before.latencies).toFixed(0)} ms ` +
        `(${before.latencies.length} probes), workers median ${median(after.latencies).toFixed(0)} ms ` +
        `(${after.latencies.length} probes)`,
    );
    // A ratio, not a number of ms: both runs share this machine's load.
    expect(median(after.latencies) * 3).toBeLessThan(median(before.latencies));
  }, 180_000);

  it(`runs at most ${REGISTER_CONCURRENCY} sign-ups at once, one per worker, and queues the rest`, async () => {
    events.length = 0;
    const crowd = Promise.all(range(12).map(() => signUp(runtime.url)));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const during = runtime.pool?.stats()['register-user'];
    const statuses = (await crowd).map((reply) => reply.status);

    expect(statuses).toEqual(range(12).map(() => 201));
    const invocations = invocationsOf(events, 'register-user');
    expect(invocations).toHaveLength(12);
    // What the workers themselves measured, not the pool's bookkeeping:
    expect(invocations.every((i) => i.concurrent === 1)).toBe(true);
    expect(new Set(invocations.map((i) => i.workerId)).size).toBeLessThanOrEqual(REGISTER_CONCURRENCY);
    const overlap = maxOverlap(invocations);
    expect(overlap).toBeLessThanOrEqual(REGISTER_CONCURRENCY);
    expect(overlap).toBeGreaterThanOrEqual(2);
    expect(during?.workers).toBeLessThanOrEqual(REGISTER_CONCURRENCY);
    expect(during?.queued).toBeGreaterThan(0);
  });

  it('logs one cold start per new worker with its init time, and none for a warm one', async () => {
    const coldStarts = () => lines.filter((line) => line.startsWith('cold start route-not-found '));
    expect(coldStarts()).toHaveLength(0);

    const first = await fetch(`${runtime.url}/api/no-such-route`);
    const second = await fetch(`${runtime.url}/api/no-such-route`);

    expect([first.status, second.status]).toEqual([404, 404]);
    expect(coldStarts()).toHaveLength(1);
    expect(coldStarts()[0]).toMatch(/^cold start route-not-found \(worker \d+\): init \d+ ms$/);
    expect(invocationsOf(events, 'route-not-found').map((i) => i.workerId)).toEqual(
      range(2).map(() => Number(/worker (\d+)/.exec(coldStarts()[0] ?? '')?.[1])),
    );
  });

  it('stop() terminates every worker it started', async () => {
    const pool = runtime.pool!;
    const spawned = new Set(events.filter((e) => e.type === 'cold-start').map((e) => e.workerId));
    expect(pool.size).toBeGreaterThan(0);

    await runtime.stop();

    const exited = new Set(events.filter((e) => e.type === 'exit').map((e) => e.workerId));
    expect([...spawned].filter((id) => !exited.has(id))).toEqual([]);
    expect(pool.size).toBe(0);
    expect(pool.stats()).toEqual({});
    await expect(fetch(`${runtime.url}/api/health`)).rejects.toThrow();
  });
});

describe("a function's timeout", () => {
  it('ends an invocation that runs past it with a 503 and the contract body, and replaces the worker', async () => {
    const events: PoolEvent[] = [];
    const lines: string[] = [];
    // bcrypt cost 15 costs seconds (32 times cost 10) in any worker; the timeout is 1 s.
    const pool = new FunctionPool({
      settings: runtimeSettings({ ...process.env, LOCAL_TIMEOUT_MS_REGISTER_USER: '1000' }),
      env: { ...process.env, BCRYPT_COST: '15' },
      log: (line) => lines.push(line),
      onEvent: (event) => events.push(event),
    });
    const server = createApiServer({ invoker: pool });
    const url = await listen(server);
    const inProcess = createApiServer();
    const inProcessUrl = await listen(inProcess);
    try {
      const username = unique('slow');
      const slow = await signUp(url, username);

      expect(slow.status).toBe(503);
      expect(slow.body).toEqual({ detail: expect.any(String), code: 'FUNCTION_TIMEOUT' });
      const timedOut = events.find((e) => e.type === 'timeout');
      expect(timedOut).toMatchObject({ functionName: 'register-user', timeoutMs: 1000 });
      expect(lines.some((line) => /^timeout register-user \(worker \d+\)/.test(line))).toBe(true);
      await expect.poll(() => events.some((e) => e.type === 'exit' && e.reason === 'timeout')).toBe(true);

      // A fresh worker answers the next request (a 422 needs no hash).
      const next = await signUp(url, 'x');
      expect(next.status).toBe(422);
      const served = invocationsOf(events, 'register-user');
      expect(served).toHaveLength(1);
      expect(served[0]?.workerId).not.toBe(timedOut?.workerId);
      expect(pool.size).toBe(1);

      // The ended invocation wrote nothing: the name is still free.
      expect((await signUp(inProcessUrl, username)).status).toBe(201);
    } finally {
      await Promise.all([close(server), close(inProcess)]);
      await pool.close();
    }
  });
});

describe("a function's queue", () => {
  it('answers 429 with the contract body and Retry-After once the queue is full', async () => {
    const pool = new FunctionPool({
      settings: runtimeSettings({
        ...process.env,
        LOCAL_CONCURRENCY_REGISTER_USER: '1',
        LOCAL_QUEUE_LIMIT: '1',
      }),
      log: () => undefined,
    });
    const server = createApiServer({ invoker: pool });
    const url = await listen(server);
    try {
      // The first request waits for the worker's cold start; the queue then holds it, and is full.
      const replies = await Promise.all(
        range(3).map(async () => {
          const response = await fetch(`${url}/api/auth/register`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ username: unique('queued'), password: 'password123' }),
          });
          return {
            status: response.status,
            retryAfter: response.headers.get('retry-after'),
            body: await response.json(),
          };
        }),
      );

      const throttled = replies.filter((reply) => reply.status === 429);
      expect(replies.map((reply) => reply.status).sort()).toEqual([201, 429, 429]);
      expect(throttled.map((reply) => reply.body)).toEqual(
        range(2).map(() => ({ detail: expect.any(String), code: 'TOO_MANY_REQUESTS' })),
      );
      expect(throttled.map((reply) => reply.retryAfter)).toEqual(['1', '1']);
    } finally {
      await close(server);
      await pool.close();
    }
  });
});

describe('the runtime settings', () => {
  it("default to 4 workers per function, 32 in all and the stack's timeouts", () => {
    const settings = runtimeSettings({});

    expect(settings).toMatchObject({ isolation: 'workers', maxWorkers: 32, queueLimit: 1000 });
    expect(settings.functions.get('create-purchase')).toEqual({ concurrency: 4, timeoutMs: 10_000 });
    expect(settings.functions.get('reconcile-inventory')).toEqual({ concurrency: 1, timeoutMs: 55_000 });
  });

  it('take one function from LOCAL_CONCURRENCY_<FN> and LOCAL_TIMEOUT_MS_<FN>, and refuse a typo', () => {
    const settings = runtimeSettings({
      LOCAL_CONCURRENCY: '2',
      LOCAL_CONCURRENCY_CREATE_PURCHASE: '8',
      LOCAL_TIMEOUT_MS_GET_HEALTH: '500',
    });

    expect(settings.functions.get('create-purchase')).toEqual({ concurrency: 8, timeoutMs: 10_000 });
    expect(settings.functions.get('get-health')).toEqual({ concurrency: 2, timeoutMs: 500 });
    expect(() => runtimeSettings({ LOCAL_CONCURRENCY_CREATE_PURCHASES: '8' })).toThrow(/no function/);
    expect(() => runtimeSettings({ LOCAL_MAX_WORKERS: '0' })).toThrow(/positive integer/);
    expect(() => runtimeSettings({ LOCAL_RUNTIME: 'threads' })).toThrow(/LOCAL_RUNTIME/);
  });

  it('refuse a timeout the reconciler would not wait for (at or past HOLD_STALE_AFTER_MS)', () => {
    expect(() => runtimeSettings({ LOCAL_TIMEOUT_MS_CREATE_PURCHASE: '60000' })).toThrow(
      /create-purchase: timeout 60000 ms must stay below HOLD_STALE_AFTER_MS \(60000 ms\)/,
    );
    expect(() => runtimeSettings({ HOLD_STALE_AFTER_MS: '5000' })).toThrow(/below HOLD_STALE_AFTER_MS/);
    expect(
      runtimeSettings({ HOLD_STALE_AFTER_MS: '120000', LOCAL_TIMEOUT_MS: '90000' }).functions.size,
    ).toBeGreaterThan(0);
  });
});

describe('npm start', () => {
  it('stops its workers and the redis-server it started on Ctrl-C', async () => {
    const redisPort = await freePort();
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'bin/start.ts'], {
      env: {
        ...process.env,
        PORT: '0',
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        RECONCILE_INTERVAL_MS: '0',
        RECONCILE_ON_START: 'false',
      },
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await expect
        .poll(() => /API at (http:\/\/\S+)\/api/.exec(output)?.[1], { timeout: 60_000 })
        .toBeTruthy();
      const url = /API at (http:\/\/\S+)\/api/.exec(output)?.[1] as string;
      expect(await isListening(redisPort)).toBe(true);
      await health(url);
      expect(output).toMatch(/cold start get-health \(worker \d+\)/);

      child.kill('SIGINT');

      expect(await exited).toBe(0);
      expect(output).toContain('stopping...');
      expect(await isListening(redisPort)).toBe(false);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
