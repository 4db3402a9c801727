/**
 * The Redis circuit breaker through the real handler: a redis-server of this test's own is stopped
 * mid-sale; once the breaker is open a purchase answers 503 SERVICE_UNAVAILABLE with Retry-After in
 * well under 100 ms instead of waiting on the client's retries; the server comes back (empty, as
 * after a failover to a node that lost everything) and purchases recover, the product restored from
 * DynamoDB, within 30 s. The numbers are printed (`npx vitest run --project integration
 * tests/integration/breaker.test.ts`).
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MetricRegistry, readStdout } from '../../bin/local/metric-registry.ts';
import { type StartedProcess, startRedisServer } from '../../bin/local/processes.ts';
import { startTestApi, type TestApi } from '../support/api.ts';

// Before any module reads the configuration: a small threshold and a short open period, so the
// test sees every state in seconds; what deploys is in shared/config.ts.
vi.hoisted(() => {
  process.env.BREAKER_FAILURE_THRESHOLD = '3';
  process.env.BREAKER_OPEN_MS = '1000';
  process.env.REDIS_COMMAND_TIMEOUT_MS = '1000';
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
});

const FAST_MS = 100;
const RECOVERY_BUDGET_MS = 30_000;

let redis: StartedProcess;
let api: TestApi;
let registry: MetricRegistry;
let stopReading: () => void;

beforeAll(async () => {
  redis = await startRedisServer();
  process.env.REDIS_URL = redis.url;
  registry = new MetricRegistry();
  stopReading = readStdout(registry);
  api = await startTestApi({ metrics: registry });
});
afterAll(async () => {
  stopReading();
  await api?.close();
  await redis?.stop();
});

const percentile = (values: readonly number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;
};

describe('Redis circuit breaker', () => {
  it('fails fast with 503 while Redis is down, and recovers within 30 s of its return', async () => {
    const product = await api.product(1_000, { strategy: 'atomic' });
    const buyer = await api.user('breaker');
    const buy = async () => {
      const started = performance.now();
      const reply = await api.request('POST', '/api/purchases', {
        token: buyer.token,
        body: { product_id: product.id, quantity: 1 },
      });
      return { reply, ms: performance.now() - started };
    };
    expect((await buy()).reply.status).toBe(200);

    await redis.stop();

    // Closed: the first purchases wait for the client to give up, and each is an outage.
    const opening: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { reply, ms } = await buy();
      expect(reply.status).toBe(503);
      opening.push(ms);
    }
    const health = await api.request('GET', '/api/health');
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({ code: 'SERVICE_UNAVAILABLE', redis: 'unavailable' });
    expect(health.body.breakers.redis).toMatch(/^(open|half-open)$/);

    // Open: 503 at once, with the time it stays open as Retry-After; nothing sent to Redis.
    const fast: number[] = [];
    for (let i = 0; i < 30; i++) {
      const { reply, ms } = await buy();
      if (ms > 300) continue; // a half-open probe waits for the client, as it should
      expect(reply.status).toBe(503);
      expect(reply.body).toEqual({ detail: expect.any(String), code: 'SERVICE_UNAVAILABLE' });
      expect(Number(reply.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      fast.push(ms);
    }
    const fastP50 = percentile(fast, 0.5);
    const fastP90 = percentile(fast, 0.9);

    // Back, on the same port, empty.
    const restarted = performance.now();
    redis = await startRedisServer({ port: redis.port });
    let recoveredMs = Number.NaN;
    while (performance.now() - restarted < RECOVERY_BUDGET_MS) {
      const { reply } = await buy();
      if (reply.status === 200) {
        recoveredMs = performance.now() - restarted;
        break;
      }
      expect(reply.status).toBe(503);
      await sleep(100);
    }
    const healthAfter = await api.request('GET', '/api/health');

    console.info(
      `breaker: opening purchases ${opening.map((ms) => Math.round(ms)).join('/')} ms; ` +
        `${fast.length} fast 503s p50 ${fastP50.toFixed(1)} ms, p90 ${fastP90.toFixed(1)} ms, max ${Math.max(...fast).toFixed(1)} ms; ` +
        `recovered ${Math.round(recoveredMs)} ms after redis-server restarted`,
    );
    expect(fast.length).toBeGreaterThanOrEqual(20);
    expect(fastP50).toBeLessThan(FAST_MS);
    expect(fastP90).toBeLessThan(FAST_MS);
    expect(recoveredMs).toBeLessThan(RECOVERY_BUDGET_MS);
    expect(healthAfter.status).toBe(200);
    expect(healthAfter.body.breakers).toEqual({ redis: 'closed', dynamodb: 'closed' });

    // Visible in the metrics: the breaker opened, and the fast answers were counted.
    const metrics = registry.snapshot().metrics;
    const sum = (name: string) =>
      metrics
        .filter((m) => m.name === name && m.dimensions.dependency === 'redis')
        .reduce((s, m) => s + m.sum, 0);
    expect(sum('BreakerOpened')).toBeGreaterThanOrEqual(1);
    expect(sum('BreakerRejected')).toBeGreaterThanOrEqual(fast.length);
  });
});
