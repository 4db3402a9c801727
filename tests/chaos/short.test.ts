/**
 * The short form of the chaos suite (`npm run chaos` runs all of it): three faults that have broken
 * ledgers elsewhere, each in the middle of a small sale on real processes (redis-server, DynamoDB
 * Local on disk, the local runtime with its worker threads): kill -9 of Redis restarted empty, Redis
 * connections dropped right after a command, and Redis stopped longer than the lock TTL. A scenario
 * fails when any ledger check fails: oversold, a 200 that is not durable, a "nothing bought" with a
 * durable purchase, a purchase without an outcome after the reconcile, Redis ≠ DynamoDB after one
 * reconcile, a 202 neither confirmable nor expired, recovery of 30 s or more, a 500.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { knownFailures } from '../../chaos/known-failures.ts';
import { shortFaults } from '../../chaos/lib/faults.ts';
import { type Backstage, backstage } from '../../chaos/lib/ledger.ts';
import { killEverything } from '../../chaos/lib/processes.ts';
import { writeScenario } from '../../chaos/lib/report.ts';
import { runScenario, SHORT, usersNeeded } from '../../chaos/lib/sale.ts';
import { ChaosStack } from '../../chaos/lib/stack.ts';

const workDir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'chaos-test-'));
let stack: ChaosStack | undefined;
let tools: Backstage | undefined;
const quiet = () => undefined;

beforeAll(async () => {
  stack = await ChaosStack.start(workDir, quiet);
  await stack.ensureUsers(usersNeeded(SHORT));
  tools = await backstage(stack);
});

afterAll(async () => {
  await tools?.close().catch(() => undefined);
  await stack?.close().catch(() => undefined);
  killEverything();
  rmSync(workDir, { recursive: true, force: true });
});

describe('a sale with a fault in the middle keeps its ledger', () => {
  for (const fault of shortFaults) {
    it(`${fault.title}: nothing oversold or lost, Redis = DynamoDB after one reconcile, recovery < 30 s`, async () => {
      if (!stack || !tools) throw new Error('the stack did not start');
      const result = await runScenario(stack, tools, fault, SHORT, quiet);
      writeScenario(join('chaos', 'reports', 'short'), result, knownFailures);
      const failed = result.checks
        .filter((c) => !c.ok && !knownFailures.has(`${fault.name}/${c.name}`))
        .map((c) => `${c.name}: ${c.detail}`);
      expect(failed).toEqual([]);
      // The sale really ran into the fault: buyers were served and refused, and some answers failed.
      expect(result.exchanges.filter((e) => e.status === 200).length).toBeGreaterThan(SHORT.units);
    });
  }
});
