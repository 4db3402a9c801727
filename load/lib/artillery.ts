/**
 * Running artillery: the processor bundled for it, the script written beside the run's results,
 * artillery as a child process (its own core: it must not share an event loop with the runner),
 * and its JSON report read back.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { build } from 'esbuild';
import type { CpuSampler } from './cpu.ts';

const require = createRequire(import.meta.url);
const artilleryBin = join(require.resolve('artillery/package.json'), '..', 'bin', 'run');
const processorSource = fileURLToPath(new URL('../processor.ts', import.meta.url));
const noTelemetry = fileURLToPath(new URL('./no-telemetry.cjs', import.meta.url));

/** The processor as one CommonJS file (artillery's own TypeScript bundling writes into the source tree). */
export async function bundleProcessor(outFile: string): Promise<string> {
  await build({
    entryPoints: [processorSource],
    outfile: outFile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    logLevel: 'warning',
  });
  return outFile;
}

/** The parts of artillery's JSON report that the runner reads. */
export interface ArtilleryMetrics {
  counters: Record<string, number>;
  rates: Record<string, number>;
  summaries: Record<
    string,
    { min: number; max: number; mean: number; p50: number; p95: number; p99: number }
  >;
  firstMetricAt: number;
  lastMetricAt: number;
}

export interface ArtilleryReport {
  aggregate: ArtilleryMetrics;
  intermediate: ArtilleryMetrics[];
}

export interface ArtilleryRun {
  exitCode: number;
  report: ArtilleryReport;
  /** artillery's own `ensure` verdicts, as it printed them. */
  checks: { ok: boolean; expression: string }[];
  /** Wall-clock window of the load (first to last metric), without artillery's start-up. */
  window: { from: number; to: number };
}

export async function runArtillery(options: {
  script: unknown;
  dir: string;
  eventsDir?: string;
  cpu?: CpuSampler;
}): Promise<ArtilleryRun> {
  const scriptFile = join(options.dir, 'artillery-script.json');
  const reportFile = join(options.dir, 'artillery.json');
  const logFile = join(options.dir, 'artillery.log');
  writeFileSync(scriptFile, JSON.stringify(options.script, null, 2));
  const log = createWriteStream(logFile);
  const child = spawn(
    process.execPath,
    ['--require', noTelemetry, artilleryBin, 'run', scriptFile, '--output', reportFile],
    {
      env: {
        ...process.env,
        // See no-telemetry.cjs: this flag alone still sends an event.
        ARTILLERY_DISABLE_TELEMETRY: 'true',
        ...(options.eventsDir && { LOAD_EVENTS_DIR: options.eventsDir }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  options.cpu?.watch('artillery', child.pid);
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code ?? 1));
  });
  await new Promise((resolve) => log.end(resolve));
  let report: ArtilleryReport;
  try {
    report = JSON.parse(readFileSync(reportFile, 'utf8'));
  } catch {
    throw new Error(`artillery wrote no report (exit ${exitCode}); see ${logFile}`);
  }
  const output = stripVTControlCharacters(readFileSync(logFile, 'utf8'));
  const checks = [...output.matchAll(/^(ok|fail): (.+)$/gm)].map((m) => ({
    ok: m[1] === 'ok',
    expression: (m[2] ?? '').trim(),
  }));
  return {
    exitCode,
    report,
    checks,
    window: { from: report.aggregate.firstMetricAt, to: report.aggregate.lastMetricAt },
  };
}
