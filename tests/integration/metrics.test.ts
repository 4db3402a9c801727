/**
 * The metrics, end to end without AWS: real handlers print CloudWatch EMF lines (Powertools
 * Metrics), the local runtime's registry reads them from stdout, and the numbers come back as JSON
 * at GET /api/admin/metrics and as Prometheus text at /metrics. One request id joins the access
 * log, the function's log lines and its metrics.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MetricRegistry, readStdout } from '../../bin/local/metric-registry.ts';
import { saleMetrics } from '../../lib/metric-names.ts';
import type { MetricSeries, MetricsSnapshot } from '../../shared/wiring/local-metrics.ts';
import { startTestApi, type TestApi } from '../support/api.ts';
import { services } from '../support/app.ts';

// What Lambda tells an on-demand sandbox, before Powertools is loaded: it counts cold starts only then.
vi.hoisted(() => {
  process.env.AWS_LAMBDA_INITIALIZATION_TYPE = 'on-demand';
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
});

let api: TestApi;
let admin: string;
let registry: MetricRegistry;
let stopReading: () => void;
const printed: string[] = [];
const accessLog: Record<string, unknown>[] = [];

beforeAll(async () => {
  registry = new MetricRegistry().serve();
  stopReading = readStdout({
    ingest: (line: string) => {
      printed.push(line);
      return registry.ingest(line);
    },
  });
  api = await startTestApi({ metrics: registry, accessLog: (line) => accessLog.push(JSON.parse(line)) });
  admin = await api.admin();
});
afterAll(async () => {
  stopReading();
  registry.close();
  await api.close();
});

const total = (snapshot: MetricsSnapshot, name: string, dimensions: Record<string, string> = {}) =>
  snapshot.metrics
    .filter((m) => m.name === name && Object.entries(dimensions).every(([k, v]) => m.dimensions[k] === v))
    .reduce((sum, m) => sum + m.sum, 0);

async function adminMetrics(): Promise<MetricsSnapshot> {
  const reply = await api.request<MetricsSnapshot>('GET', '/api/admin/metrics', { token: admin });
  expect(reply.status).toBe(200);
  return reply.body;
}

describe('GET /api/admin/metrics', () => {
  it('counts purchases by outcome from the EMF lines the purchase function printed', async () => {
    const before = await adminMetrics();
    const product = await api.product(3, { strategy: 'lock' });
    const buyers = await Promise.all(Array.from({ length: 5 }, () => api.user('metric')));
    // One after another: this is about what is counted, not about the race (purchases.test.ts).
    const replies = [];
    for (const b of buyers) {
      replies.push(
        await api.request('POST', '/api/purchases', {
          token: b.token,
          body: { product_id: product.id, quantity: 1 },
        }),
      );
    }
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 400, 400]);

    // Refusals are tallied and published at most once a second (shared/wiring/metrics.ts): the
    // next invocation a second on publishes what gathered, here the admin's read of the metrics.
    await sleep(1_100);
    const after = await adminMetrics();
    expect(total(after, 'Purchased') - total(before, 'Purchased')).toBe(3);
    expect(total(after, 'SoldOut') - total(before, 'SoldOut')).toBe(2);
    const latency = after.metrics.find((m) => m.name === 'PurchaseLatency') as MetricSeries;
    expect(latency.unit).toBe('Milliseconds');
    // The 3 sales; a sold-out refusal's latency is not a purchase's (it is tallied without one).
    expect(latency.count).toBeGreaterThanOrEqual(3);
    expect(latency.p99).toBeGreaterThanOrEqual(latency.p50 ?? Number.POSITIVE_INFINITY);
    for (const name of ['LockWait', 'LockAcquire', 'LockAttempts', 'ReserveLatency', 'DurableWriteLatency']) {
      expect(
        after.metrics.find((m) => m.name === name)?.count,
        `${name} recorded for each of the 3 sales`,
      ).toBeGreaterThanOrEqual(3);
    }
  });

  it('counts a reconcile pass: holds, repairs, drift, failures and oversell (0)', async () => {
    const before = await adminMetrics();
    const product = await api.product(5, { strategy: 'atomic' });
    const { redis, reconciler } = await services();
    // Drift: Redis believes in 2 more units than DynamoDB holds; the pass sees it and repairs it.
    await redis.hincrby(`stock:{${product.id}}`, 'available', 2);
    const { handler } = await import('../../functions/reconcile-inventory.ts');
    await (handler as (e: unknown, c: unknown) => Promise<void>)(
      { id: 'scheduled-1' },
      { functionName: 'reconcile-inventory', awsRequestId: 'r-1', getRemainingTimeInMillis: () => 50_000 },
    );
    // This product's row: other files leave their own products broken on purpose.
    const audit = await reconciler.verify();
    expect(audit.products.find((p) => p.product_id === product.id)).toMatchObject({
      ok: true,
      redis_stock: 5,
    });
    const after = await adminMetrics();
    expect(total(after, 'ReconcileDrift') - total(before, 'ReconcileDrift')).toBeGreaterThanOrEqual(1);
    expect(total(after, 'ReconcileRepairs') - total(before, 'ReconcileRepairs')).toBeGreaterThanOrEqual(1);
    expect(after.metrics.some((m) => m.name === 'HoldsInFlight')).toBe(true);
    expect(after.metrics.some((m) => m.name === 'ReconcileFailures')).toBe(true);
    expect(after.metrics.some((m) => m.name === 'OversellDetected')).toBe(true);
    expect(total(after, 'OversellDetected')).toBe(0);
  });

  it('counts every 429 of an abuse limit by the limit that refused it', async () => {
    const before = await adminMetrics();
    const victim = await api.user('limited');
    const statuses: number[] = [];
    // One after another, as a credential-stuffing script does; the 21st failure is past the limit.
    for (let i = 0; i < 24; i++) {
      const reply = await api.request('POST', '/api/auth/login', {
        body: { username: victim.username, password: `wrong-password-${i}` },
      });
      statuses.push(reply.status);
    }
    const refused = statuses.filter((s) => s === 429).length;
    expect(refused).toBeGreaterThanOrEqual(3);
    await sleep(1_100); // the tally's second (see above)
    const after = await adminMetrics();
    const counted = (s: MetricsSnapshot) => total(s, 'LimitReached', { limit: 'login-username' });
    expect(counted(after) - counted(before)).toBe(refused);
  });

  it('emits only metrics the dashboard and alarms know, under the FlashSale namespace and service', async () => {
    const snapshot = await adminMetrics();
    expect(snapshot.metrics.length).toBeGreaterThan(0);
    for (const m of snapshot.metrics) {
      expect(Object.keys(saleMetrics), m.name).toContain(m.name);
      expect(m.unit, m.name).toBe(saleMetrics[m.name as keyof typeof saleMetrics]);
      expect(m.dimensions.service, m.name).toBe('flash-sale-inventory');
      // Bounded dimensions only: no user, no product id.
      expect(
        Object.keys(m.dimensions).every((d) =>
          ['service', 'state', 'dependency', 'function_name', 'limit'].includes(d),
        ),
      ).toBe(true);
    }
    const emf = printed.filter((l) => l.includes('CloudWatchMetrics')).map((l) => JSON.parse(l));
    expect(
      new Set(emf.flatMap((r) => r._aws.CloudWatchMetrics.map((d: { Namespace: string }) => d.Namespace))),
    ).toEqual(new Set(['FlashSale']));
    expect(total(snapshot, 'ColdStart')).toBeGreaterThanOrEqual(1);
  });

  it('is for admins only', async () => {
    const user = await api.user('nosy');
    expect((await api.request('GET', '/api/admin/metrics', { token: user.token })).status).toBe(403);
    expect((await api.request('GET', '/api/admin/metrics')).status).toBe(401);
  });
});

describe('GET /metrics (Prometheus text)', () => {
  it('serves the same numbers as the JSON', async () => {
    const json = await adminMetrics();
    const response = await fetch(`${api.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(text).toContain('# TYPE flashsale_purchased_total counter');
    expect(text).toContain('# TYPE flashsale_purchase_latency_ms summary');
    const purchased = Number(
      /^flashsale_purchased_total\{service="flash-sale-inventory"\} (\d+)$/m.exec(text)?.[1],
    );
    expect(purchased).toBe(total(json, 'Purchased'));
    expect(text).toMatch(
      /^flashsale_purchase_latency_ms\{service="flash-sale-inventory",quantile="0\.99"\} \d+/m,
    );
  });
});

describe('correlation', () => {
  it('joins the access log, the log lines and the metrics of one request by its request id', async () => {
    const product = await api.product(1);
    const buyer = await api.user('corr');
    printed.length = 0;
    const reply = await api.request('POST', '/api/purchases', {
      token: buyer.token,
      body: { product_id: product.id, quantity: 1 },
    });
    expect(reply.status).toBe(200);
    const access = accessLog.at(-1) as { requestId: string; routeKey: string; status: number };
    expect(access).toMatchObject({ routeKey: 'POST /api/purchases', status: 200 });
    const emf = printed
      .filter((l) => l.includes('CloudWatchMetrics') && l.includes('"Purchased"'))
      .map((l) => JSON.parse(l));
    expect(emf.map((r) => r.request_id)).toEqual([access.requestId]);
  });
});
