/**
 * Every load scenario at smoke scale (tens of buyers, a few seconds), end to end: a private local
 * stack, real artillery, the verifier. It keeps the scenarios, the thresholds and the verdict from
 * rotting; the numbers themselves come from `npm run load` (load/README.md), not from here.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LoadSession, runLoad } from '../../load/lib/runner.ts';
import { type ScenarioName, scenarioNames } from '../../load/scenarios.ts';

let session: LoadSession;

beforeAll(async () => {
  session = await runLoad({
    scenarios: scenarioNames,
    strategies: ['lock', 'atomic'],
    scale: 'smoke',
    outDir: mkdtempSync(join(tmpdir(), 'load-smoke-')),
    command: 'npm run load -- all --smoke',
    log: () => undefined,
  });
});

// A passing session's files are of no further use; a failing one's stay (their path is in the failure).
afterAll(() => {
  if (session?.passed) rmSync(session.dir, { recursive: true, force: true });
});

describe.each(
  scenarioNames.flatMap((s) => (['lock', 'atomic'] as const).map((strategy) => [s, strategy] as const)),
)('%s × %s at smoke scale', (scenario: ScenarioName, strategy) => {
  const result = () => {
    const found = session.results.find((r) => r.scenario === scenario && r.strategy === strategy);
    if (!found) throw new Error(`no result for ${scenario} × ${strategy}`);
    return found;
  };

  it('ends with a passing verdict on the data: nothing oversold, every 200 durable, Redis = DynamoDB', () => {
    const { verdict } = result();
    expect(verdict.checks.filter((c) => !c.ok)).toEqual([]);
    expect(verdict.oversold).toBe(0);
    expect(verdict.passed).toBe(true);
  });

  it('sells exactly the stock when demand exceeds it, and answers every purchase', () => {
    const { verdict, params } = result();
    const units = params.products * params.units;
    expect(verdict.products.reduce((sum, p) => sum + p.sold, 0)).toBe(units);
    expect(verdict.statuses.none ?? 0).toBe(0);
  });

  it("meets its artillery thresholds and leaves artillery's report, a report and a latency picture", () => {
    const { thresholds, dir } = result();
    expect(thresholds.checks.length).toBeGreaterThan(0);
    expect(thresholds.passed).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'artillery.json'), 'utf8')).aggregate.counters).toBeDefined();
    expect(readFileSync(join(dir, 'report.md'), 'utf8')).toContain('## Verdict on the data');
    expect(readFileSync(join(dir, 'latency.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<polyline/);
  });
});
