/**
 * `npm run chaos`: every fault scenario against real processes on 127.0.0.1, one after another on
 * one stack (redis-server, DynamoDB Local on disk in a temporary directory, the local runtime),
 * each a sale with one fault in the middle and a ledger verdict after one reconcile.
 * `npm run chaos:short` runs the three faults the test suite runs (tests/chaos).
 *
 *   npm run chaos                       # all scenarios, reports in chaos/reports/
 *   npm run chaos -- --only redis-kill,clock-jumps
 *   npm run chaos:short
 *
 * Exits 1 when a check fails that is not a known failure (chaos/known-failures.ts). Every process
 * it started is killed at the end, also on failure or Ctrl-C.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { knownFailures } from './known-failures.ts';
import { allFaults, shortFaults } from './lib/faults.ts';
import { backstage } from './lib/ledger.ts';
import { killEverything } from './lib/processes.ts';
import { type SummaryRow, summaryRow, summaryTable, writeScenario } from './lib/report.ts';
import { FULL, runScenario, SHORT, usersNeeded } from './lib/sale.ts';
import { ChaosStack } from './lib/stack.ts';

const { values: args } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string', default: join('chaos', 'reports') },
    keep: { type: 'boolean', default: false },
  },
});

const faults = args.only
  ? args.only.split(',').map((name) => {
      const fault = allFaults.find((f) => f.name === name.trim());
      if (!fault) throw new Error(`no scenario ${name}; one of ${allFaults.map((f) => f.name).join(', ')}`);
      return fault;
    })
  : args.short
    ? shortFaults
    : allFaults;
const size = args.short ? SHORT : FULL;
const say = (line: string) => console.log(line);
// DynamoDB Local's files survive its kill -9 anywhere; in memory-backed /dev/shm they cost no disk I/O.
const workDir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'chaos-'));
const rows: SummaryRow[] = [];
let unexpected = 0;
const started = Date.now();
let stack: ChaosStack | undefined;
try {
  say(`chaos: ${faults.length} scenarios, work directory ${workDir}`);
  stack = await ChaosStack.start(workDir, say);
  await stack.ensureUsers(usersNeeded(size));
  const tools = await backstage(stack);
  for (const fault of faults) {
    say(`\n== ${fault.name}: ${fault.title}`);
    const result = await runScenario(stack, tools, fault, size, say);
    writeScenario(args.out, result, knownFailures);
    rows.push(summaryRow(result, knownFailures));
    for (const check of result.checks) {
      const known = knownFailures.get(`${fault.name}/${check.name}`);
      if (!check.ok && !known) unexpected += 1;
      say(`  ${check.ok ? 'ok  ' : known ? 'KNOWN' : 'FAIL'} ${check.name}: ${check.detail}`);
    }
  }
  await tools.close();
  const table = summaryTable(rows);
  writeFileSync(
    join(args.out, args.short ? 'summary-short.md' : 'summary.md'),
    `# Chaos run ${new Date().toISOString()}\n\n${summaryTable(rows, './')}\n\nTotal ${((Date.now() - started) / 1000).toFixed(0)} s.\n`,
  );
  say(
    `\n${table}\n\n${unexpected === 0 ? 'every check held' : `${unexpected} checks failed`} in ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
} catch (error) {
  console.error('chaos run failed:', error);
  unexpected += 1;
} finally {
  await stack?.close().catch(() => undefined);
  killEverything();
  if (!args.keep) rmSync(workDir, { recursive: true, force: true });
}
process.exit(unexpected === 0 ? 0 : 1);
