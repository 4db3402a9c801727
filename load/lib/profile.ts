/**
 * Where a local runtime's CPU went during a load session, from the V8 CPU profiles `--cpu-prof`
 * writes (one per thread: the gateway's main thread and every function worker).
 *
 * Self time per function, summed over every profile of a runtime, then grouped into what an
 * engineer acts on: bcrypt, JWT, logging, ids, Redis, the AWS SDK, garbage collection, idle.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { join } from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
    readonly columnNumber: number;
  };
  readonly hitCount?: number;
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

/** What a frame is spent on, first match wins: the categories a reader of the run acts on. */
const CATEGORIES: readonly (readonly [string, (url: string, fn: string) => boolean])[] = [
  ['idle (waiting for work or I/O)', (_u, fn) => fn === '(idle)'],
  ['garbage collection', (_u, fn) => fn === '(garbage collector)'],
  ['bcrypt (sign-up and login hashing)', (u) => u.includes('bcryptjs')],
  ['JWT (jose: sign and verify)', (u) => u.includes('/jose/')],
  ['ids (ulid)', (u) => u.includes('/ulid/')],
  ['logging (Powertools Logger)', (u) => u.includes('powertools/logger') || u.includes('powertools/commons')],
  ['Redis client (ioredis, RESP parsing)', (u) => u.includes('ioredis') || u.includes('redis-parser')],
  ['AWS SDK (DynamoDB client, marshalling, signing)', (u) => u.includes('@aws-sdk') || u.includes('@smithy')],
  ['validation (zod)', (u) => u.includes('/zod/')],
  ['middleware (middy)', (u) => u.includes('@middy')],
  ['the service (shared/, functions/, bin/local)', (u) => /\/(shared|functions|bin)\//.test(u)],
  ['module loading and compiling (cold starts)', (u) => u.includes('tsx') || u.includes('esbuild')],
  ['Node.js internals (http, streams, worker messaging)', (u) => u.startsWith('node:') || u === ''],
];

export interface ProfileSummary {
  readonly runtime: string;
  readonly threads: number;
  readonly totalMs: number;
  readonly categories: readonly { readonly name: string; readonly ms: number }[];
  readonly top: readonly { readonly frame: string; readonly ms: number }[];
}

function selfTimes(profile: CpuProfile): Map<number, number> {
  const byNode = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  // V8 attributes the time until the next sample to each sample's node.
  for (let i = 0; i < samples.length; i++) {
    const node = samples[i] as number;
    const next = deltas[i + 1] ?? 0;
    byNode.set(node, (byNode.get(node) ?? 0) + next / 1000);
  }
  return byNode;
}

/**
 * The function workers run esbuild bundles (bin/local/bundle.ts); a profiled runtime keeps their
 * source maps under <dir>/bundles/<bundle dir>/ (bin/local/function-pool.ts), which lead a frame in
 * a chunk back to its source file or package.
 */
function sourceResolver(dir: string) {
  const maps = new Map<string, SourceMap | null>();
  return (url: string, line: number, column: number): { url: string; line: number } => {
    const bundled = /\/(flash-sale-functions-[^/]+)\/out\/(.+)$/.exec(url.replace(/^file:\/\//, ''));
    if (!bundled) return { url, line };
    const mapFile = join(dir, 'bundles', bundled[1] as string, `${bundled[2]}.map`);
    if (!maps.has(mapFile))
      maps.set(
        mapFile,
        existsSync(mapFile) ? new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8'))) : null,
      );
    const entry = maps.get(mapFile)?.findEntry(line, column);
    if (!entry || !('originalSource' in entry)) return { url, line };
    return { url: entry.originalSource.replace(/^(\.\.\/)+/, '/'), line: entry.originalLine };
  };
}

const shortUrl = (url: string) => url.replace(/^file:\/\//, '').replace(/^.*node_modules\//, '');

/** One runtime's profiles (a directory of .cpuprofile files), summed. */
export function summarizeProfiles(dir: string, runtime: string): ProfileSummary | null {
  if (!existsSync(dir)) return null;
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) return null;
  const categories = new Map<string, number>();
  const frames = new Map<string, number>();
  let totalMs = 0;
  const resolve = sourceResolver(dir);
  for (const file of files) {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
    for (const [id, ms] of selfTimes(profile)) {
      const node = nodes.get(id);
      if (!node) continue;
      const { functionName } = node.callFrame;
      const { url, line } = resolve(
        node.callFrame.url,
        node.callFrame.lineNumber,
        node.callFrame.columnNumber,
      );
      const category = CATEGORIES.find(([, matches]) => matches(url, functionName))?.[0] ?? 'other';
      categories.set(category, (categories.get(category) ?? 0) + ms);
      totalMs += ms;
      if (functionName === '(idle)') continue;
      const frame = `${functionName || '(anonymous)'} ${shortUrl(url)}${url ? `:${line + 1}` : ''}`;
      frames.set(frame, (frames.get(frame) ?? 0) + ms);
    }
  }
  const sorted = <K>(m: Map<K, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    runtime,
    threads: files.length,
    totalMs,
    categories: sorted(categories).map(([name, ms]) => ({ name, ms })),
    top: sorted(frames)
      .slice(0, 15)
      .map(([frame, ms]) => ({ frame, ms })),
  };
}

export function profileMarkdown(summaries: readonly ProfileSummary[]): string {
  const lines = ['# Where the runtimes spent their CPU', ''];
  for (const s of summaries) {
    const busy = s.totalMs - (s.categories.find((c) => c.name.startsWith('idle'))?.ms ?? 0);
    const pct = (ms: number, of: number) => `${((100 * ms) / Math.max(1, of)).toFixed(1)}%`;
    lines.push(
      `## ${s.runtime}`,
      '',
      `${s.threads} threads profiled; ${(busy / 1000).toFixed(1)} s of CPU busy (sampled), ${(s.totalMs / 1000).toFixed(1)} s observed in all.`,
      '',
      '| spent on | CPU s | share of busy |',
      '|---|---|---|',
      ...s.categories
        .filter((c) => !c.name.startsWith('idle'))
        .map((c) => `| ${c.name} | ${(c.ms / 1000).toFixed(2)} | ${pct(c.ms, busy)} |`),
      '',
      '| hottest functions (self time) | CPU s | share of busy |',
      '|---|---|---|',
      ...s.top.map((t) => `| \`${t.frame}\` | ${(t.ms / 1000).toFixed(2)} | ${pct(t.ms, busy)} |`),
      '',
    );
  }
  return lines.join('\n');
}
