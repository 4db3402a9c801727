/**
 * The mutation check of the core: for each mutant in mutants.ts, a copy of the repository (without
 * node_modules, which is linked) with that one bug in it, and the tests that should catch it run
 * against the copy's own Redis and DynamoDB Local. A mutant the tests do not kill fails the run.
 *
 *   npm run test:mutation                 every mutant, after checking the targeted tests pass unmutated
 *   npm run test:mutation -- --short      the short set (what `npm test` runs), without that baseline
 *   npm run test:mutation -- --only a,b   these mutants
 *   npm run test:mutation -- --list       list them
 *   --keep                                keep the copies (their paths are printed)
 *
 * Before anything runs, every mutant's snippet must be in its file exactly once: a snippet that moved
 * with a restructure stops the run with the mutants to update, it is never skipped.
 */
import { spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Mutant, mutants } from './mutants.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** Not copied: dependencies (linked instead), history, and what builds and runs leave behind. */
const notCopied = new Set(['node_modules', '.git', 'cdk.out', 'coverage', '.data', 'load/results']);
/** One mutant's tests; a hang past this counts as killed (the tests did not pass). */
const TIMEOUT_MS = 10 * 60_000;

type Verdict = 'killed' | 'survived' | 'error';
interface Outcome {
  readonly verdict: Verdict;
  readonly detail: string;
  readonly seconds: number;
}

function parseArgs(argv: readonly string[]) {
  const flag = (name: string) => argv.includes(name);
  const onlyAt = argv.indexOf('--only');
  const only = onlyAt >= 0 ? (argv[onlyAt + 1] ?? '').split(',').filter(Boolean) : undefined;
  return { short: flag('--short'), list: flag('--list'), keep: flag('--keep'), only };
}

/** Every snippet exactly once in its file, every targeted test file present: or a loud stop. */
function checkMutants(all: readonly Mutant[]): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  for (const m of all) {
    if (ids.has(m.id)) problems.push(`${m.id}: the id is used twice`);
    ids.add(m.id);
    const path = join(root, m.file);
    if (!existsSync(path)) {
      problems.push(`${m.id}: ${m.file} does not exist (moved? update tests/mutation/mutants.ts)`);
      continue;
    }
    const count = readFileSync(path, 'utf8').split(m.find).length - 1;
    if (count !== 1)
      problems.push(
        `${m.id}: the snippet occurs ${count} times in ${m.file}, not once (update tests/mutation/mutants.ts):\n    ${JSON.stringify(m.find)}`,
      );
    if (m.find === m.replace) problems.push(`${m.id}: the replacement is the snippet itself`);
    for (const test of m.tests)
      if (!existsSync(join(root, test))) problems.push(`${m.id}: test file ${test} does not exist`);
  }
  return problems;
}

function copyRepository(into: string) {
  cpSync(root, into, {
    recursive: true,
    filter: (source) => !notCopied.has(relative(root, source)),
  });
  symlinkSync(realpathSync(join(root, 'node_modules')), join(into, 'node_modules'), 'dir');
}

interface VitestRun {
  readonly code: number | null;
  readonly timedOut: boolean;
  readonly output: string;
  readonly report: VitestReport | null;
}

interface VitestReport {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  numFailedTestSuites: number;
  testResults: {
    name: string;
    status: string;
    message?: string;
    assertionResults: { fullName: string; status: string }[];
  }[];
}

/** vitest in `dir`, one project, the given files, a JSON report. */
function vitest(dir: string, m: Pick<Mutant, 'project' | 'tests' | 'testNamePattern'>): Promise<VitestRun> {
  const reportPath = join(dir, '.mutant-report.json');
  rmSync(reportPath, { force: true });
  const args = [
    join(dir, 'node_modules/vitest/vitest.mjs'),
    'run',
    '--project',
    m.project,
    ...m.tests,
    ...(m.testNamePattern ? ['--testNamePattern', m.testNamePattern] : []),
    '--reporter=json',
    `--outputFile=${reportPath}`,
  ];
  return new Promise((done) => {
    const child = spawn(process.execPath, args, {
      cwd: dir,
      env: { ...process.env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      // The whole group: vitest's workers, redis-server and DynamoDB Local started by its global setup.
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    }, TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      let report: VitestReport | null = null;
      try {
        report = JSON.parse(readFileSync(reportPath, 'utf8')) as VitestReport;
      } catch {}
      done({ code, timedOut, output, report });
    });
  });
}

function failingTests(report: VitestReport): string[] {
  return report.testResults.flatMap((file) =>
    file.assertionResults.filter((a) => a.status === 'failed').map((a) => a.fullName),
  );
}

/** Passed, failed by its tests, or broken (nothing ran, a suite failed to load, no report). */
function judge(run: VitestRun): { verdict: Verdict; detail: string } {
  if (run.timedOut) return { verdict: 'killed', detail: `timed out after ${TIMEOUT_MS / 60_000} min` };
  const { report } = run;
  if (!report) return { verdict: 'error', detail: `no report; vitest said:\n${run.output.slice(-3000)}` };
  const failed = failingTests(report);
  if (failed.length > 0)
    return { verdict: 'killed', detail: `${failed.length} failed: ${failed.slice(0, 2).join(' | ')}` };
  const broken = report.testResults.filter((f) => f.status === 'failed');
  if (broken.length > 0 || report.numFailedTestSuites > 0)
    return {
      verdict: 'error',
      detail: `a suite failed without a failing test: ${broken.map((f) => f.message ?? f.name).join(' | ')}`,
    };
  if (report.numPassedTests === 0)
    return { verdict: 'error', detail: 'no test ran (check tests / testNamePattern)' };
  if (run.code !== 0)
    return { verdict: 'error', detail: `vitest exited ${run.code}:\n${run.output.slice(-3000)}` };
  return { verdict: 'survived', detail: `${report.numPassedTests} tests passed` };
}

async function inCopy<T>(label: string, keep: boolean, work: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), `mutant-${label}-`));
  try {
    copyRepository(dir);
    return await work(dir);
  } finally {
    if (keep) console.log(`  kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

async function runMutant(m: Mutant, keep: boolean): Promise<Outcome> {
  const started = performance.now();
  return inCopy(m.id, keep, async (dir) => {
    const path = join(dir, m.file);
    const source = readFileSync(path, 'utf8');
    writeFileSync(
      path,
      source.replace(m.find, () => m.replace),
    );
    const { verdict, detail } = judge(await vitest(dir, m));
    return { verdict, detail, seconds: Math.round((performance.now() - started) / 1000) };
  });
}

/** The targeted tests must pass on the unmutated code, or a "kill" proves nothing. */
async function baseline(selected: readonly Mutant[], keep: boolean): Promise<string[]> {
  const runs = new Map<string, Mutant>();
  for (const m of selected) runs.set(JSON.stringify([m.project, m.tests, m.testNamePattern]), m);
  return inCopy('baseline', keep, async (dir) => {
    const problems: string[] = [];
    for (const m of runs.values()) {
      const { verdict, detail } = judge(await vitest(dir, m));
      const what = `${m.project} ${m.tests.join(' ')}${m.testNamePattern ? ` -t "${m.testNamePattern}"` : ''}`;
      console.log(`  baseline ${verdict === 'survived' ? 'passes' : 'FAILS'}: ${what}`);
      if (verdict !== 'survived') problems.push(`${what}: ${detail}`);
    }
    return problems;
  });
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (options.list) {
    for (const m of mutants)
      console.log(`${m.short ? '*' : ' '} ${m.id.padEnd(36)} ${m.file}  — ${m.breaks}`);
    return 0;
  }
  const problems = checkMutants(mutants);
  if (problems.length > 0) {
    console.error(`Mutants that cannot be applied:\n  ${problems.join('\n  ')}`);
    return 1;
  }
  const unknown = (options.only ?? []).filter((id) => !mutants.some((m) => m.id === id));
  if (unknown.length > 0) {
    console.error(`No such mutant: ${unknown.join(', ')} (npm run test:mutation -- --list)`);
    return 1;
  }
  const selected = mutants.filter((m) =>
    options.only ? options.only.includes(m.id) : options.short ? m.short : true,
  );
  console.log(`Mutation check: ${selected.length} of ${mutants.length} mutants`);

  if (!options.short) {
    const failing = await baseline(selected, options.keep);
    if (failing.length > 0) {
      console.error(`The targeted tests fail without any mutant:\n  ${failing.join('\n  ')}`);
      return 1;
    }
  }

  const results: [Mutant, Outcome][] = [];
  for (const m of selected) {
    const outcome = await runMutant(m, options.keep);
    results.push([m, outcome]);
    console.log(
      `  ${outcome.verdict.toUpperCase().padEnd(8)} ${m.id.padEnd(36)} ${String(outcome.seconds).padStart(4)} s  ${outcome.detail.split('\n')[0]}`,
    );
    if (outcome.verdict === 'error') console.log(outcome.detail);
  }
  const bad = results.filter(([, o]) => o.verdict !== 'killed');
  console.log(
    `${results.length - bad.length} of ${results.length} mutants killed${bad.length ? `; not killed: ${bad.map(([m, o]) => `${m.id} (${o.verdict})`).join(', ')}` : ''}`,
  );
  return bad.length > 0 ? 1 : 0;
}

process.exitCode = await main();
