/**
 * The load scenarios at smoke scale (tens of buyers, a few seconds), end to end: a private local
 * stack, real artillery, the verifier. It keeps the scenarios, the thresholds and the verdict from
 * rotting; the numbers themselves come from `npm run load` (load/README.md), not from here.
 *
 * Eight runs, one session. Every scenario runs at least once and every strategy at least once; both
 * strategies where contention makes them behave differently (v1-stress, flash-crowd). v1-basic is
 * 1:1 (nobody is refused), so one strategy shows its flow; the mixed flow runs once per strategy
 * across its two variants, and so does V1 Stress's sign-up variant against its plain one.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEPLOYED_BCRYPT_COST, type LoadSession, type RunSpec, runLoad } from '../../load/lib/runner.ts';
import { repairTotal } from '../../load/lib/verify.ts';
import { latencyMetric, scenarios } from '../../load/scenarios.ts';

const plan: RunSpec[] = [
  { scenario: 'v1-basic', strategy: 'lock' },
  { scenario: 'v1-stress', strategy: 'lock' },
  { scenario: 'v1-stress', strategy: 'atomic' },
  { scenario: 'v1-stress-signup', strategy: 'atomic' },
  { scenario: 'mixed', strategy: 'atomic' },
  { scenario: 'mixed-signup', strategy: 'lock' },
  { scenario: 'flash-crowd', strategy: 'lock' },
  { scenario: 'flash-crowd', strategy: 'atomic' },
];

/** The endpoints each flow sends, by the names its requests carry. */
const flowEndpoints: Record<string, string[]> = {
  'v1-basic': ['list', 'purchase', 'stock'],
  'v1-stress': ['purchase', 'stock'],
  mixed: ['list', 'purchase', 'stock'],
  'flash-crowd': ['purchase'],
  'v1-stress-signup': ['login', 'purchase', 'register', 'stock'],
  'mixed-signup': ['list', 'login', 'purchase', 'register', 'stock'],
};

let session: LoadSession;

beforeAll(async () => {
  session = await runLoad({
    runs: plan,
    scale: 'smoke',
    outDir: mkdtempSync(join(tmpdir(), 'load-smoke-')),
    command: 'vitest run --project load',
    log: () => undefined,
  });
});

// A passing session's files are of no further use; a failing one's stay (their path is in the failure).
afterAll(() => {
  if (session?.passed) rmSync(session.dir, { recursive: true, force: true });
});

describe.each(plan)('$scenario × $strategy at smoke scale', ({ scenario: name, strategy }) => {
  const scenario = scenarios[name];
  const result = () => {
    const found = session.results.find((r) => r.scenario === name && r.strategy === strategy);
    if (!found) throw new Error(`no result for ${name} × ${strategy}`);
    return found;
  };

  it('ends with a passing verdict on the data: nothing oversold, every 200 durable, Redis = DynamoDB', () => {
    const { verdict } = result();
    expect(verdict.checks.filter((c) => !c.ok)).toEqual([]);
    expect(verdict.oversold).toBe(0);
    expect(verdict.passed).toBe(true);
  });

  it('judges the data before any repair: Redis agreed with DynamoDB and the reconcile repaired nothing', () => {
    const { verdict, productIds } = result();
    expect(verdict.preRepair.judged.map((b) => [b.productId, b.balanced, b.held])).toEqual(
      productIds.map((id) => [id, true, 0]),
    );
    expect(verdict.preRepair.agreed).toBe(true);
    expect(verdict.repairs && repairTotal(verdict.repairs)).toBe(0);
  });

  it('sells exactly the stock when demand exceeds it, and answers every purchase', () => {
    const { verdict, params } = result();
    const units = params.products * params.units;
    expect(verdict.products.reduce((sum, p) => sum + p.sold, 0)).toBe(units);
    expect(verdict.products.reduce((sum, p) => sum + p.clientSold, 0)).toBe(units);
    expect(verdict.statuses.none ?? 0).toBe(0);
  });

  it('serves first come, first served: nobody sent after a buyer was answered sold out got a unit', () => {
    const { verdict, params } = result();
    expect(verdict.fcfs.judged).toBe(scenario.fcfs === 'judged');
    expect(verdict.fcfs.violations).toBe(0);
    // Every scenario but v1-basic (1:1) turns buyers away, so the check had refusals to judge.
    const turnsAway = name !== 'v1-basic';
    expect(verdict.fcfs.refused > 0).toBe(turnsAway);
    expect(verdict.checks.filter((c) => c.name === 'first come, first served')).toHaveLength(
      scenario.fcfs === 'judged' ? params.products : 0,
    );
  });

  it('reports latency per endpoint: every request it sent, counted under its endpoint, p50 ≤ p95 ≤ p99', () => {
    const { metrics, verdict } = result();
    const endpoints = metrics.endpoints;
    expect(Object.keys(endpoints).sort()).toEqual(flowEndpoints[name]);
    expect(Object.values(endpoints).reduce((sum, e) => sum + e.count, 0)).toBe(metrics.requests);
    expect(endpoints.purchase?.count).toBe(Object.values(verdict.statuses).reduce((a, b) => a + b, 0));
    for (const e of Object.values(endpoints)) {
      expect(e.p50).toBeLessThanOrEqual(e.p95);
      expect(e.p95).toBeLessThanOrEqual(e.p99);
    }
  });

  if (scenario.signup) {
    it('signs up and logs in every buyer inside the run, on a runtime at the deployed bcrypt cost, and reports its p99', () => {
      const { metrics, params, bcryptCost, authTarget, target } = result();
      const buyers = params.arrivals.count;
      expect(metrics.endpoints.register?.count).toBe(buyers);
      expect(metrics.endpoints.login?.count).toBe(buyers);
      expect(metrics.signup?.count).toBe(buyers);
      expect(metrics.signup?.p99).toBeGreaterThanOrEqual(metrics.endpoints.login?.p99 ?? Number.NaN);
      expect(bcryptCost).toBe(DEPLOYED_BCRYPT_COST);
      // Everything went to the runtime on npm start's defaults: one target, no separate auth URL.
      expect(target).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(authTarget).toBeUndefined();
    });
  } else {
    it('buys with buyers made beforehand: no sign-up inside the run, on the cost-4 runtime', () => {
      const { metrics, bcryptCost, authTarget } = result();
      expect(metrics.signup).toBeNull();
      expect(metrics.endpoints.register).toBeUndefined();
      expect(bcryptCost).toBe(4);
      expect(authTarget).toBeUndefined();
    });
  }

  it("meets its artillery thresholds and leaves artillery's report, a report and a latency picture", () => {
    const { thresholds, dir, metrics, params } = result();
    const metric = latencyMetric(scenario);
    expect(thresholds.checks.map((c) => [c.ok, c.expression]).sort()).toEqual(
      [
        [true, `${metric}.p99 < ${params.limits.p99}`],
        [true, `(load.errors + vusers.failed) / http.requests < ${params.limits.maxErrorRate}`],
      ].sort(),
    );
    expect(thresholds.passed).toBe(true);
    const artillery = JSON.parse(readFileSync(join(dir, 'artillery.json'), 'utf8'));
    expect(artillery.aggregate.counters['http.requests']).toBe(metrics.requests);
    expect(artillery.aggregate.counters['http.responses']).toBe(metrics.requests);
    const report = readFileSync(join(dir, 'report.md'), 'utf8');
    expect(report).toMatch(new RegExp(`^# ${name} × ${strategy} \\(smoke\\): PASS`));
    for (const endpoint of flowEndpoints[name] ?? [])
      expect(report).toMatch(
        new RegExp(`^\\| ${endpoint} \\| ${metrics.endpoints[endpoint]?.count} \\|`, 'm'),
      );
    expect(readFileSync(join(dir, 'latency.svg'), 'utf8').match(/<polyline /g)).toHaveLength(3);
  });
});
