/**
 * What a scenario leaves behind: a markdown report and an SVG of throughput and errors over time
 * with the fault window shaded, under chaos/reports/, and the summary table of a whole run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Exchange } from './crowd.ts';
import type { ScenarioResult } from './sale.ts';

const BUCKET_MS = 500;

type Outcome = 'success' | 'refused' | 'error';

function outcomeOf(e: Exchange): Outcome {
  if (e.status === 200 || e.status === 202) return 'success';
  if (e.status === null || e.status >= 500 || e.status === 429) return 'error';
  return 'refused';
}

interface Series {
  readonly t: number[];
  readonly success: number[];
  readonly refused: number[];
  readonly error: number[];
}

/** Answers per second by outcome, in buckets of the time they were answered (seconds from the start). */
function series(result: ScenarioResult): Series {
  const sale = result.exchanges.filter(
    (e) => e.sentAt >= result.startedAt && e.answeredAt <= result.saleEndedAt && e.kind !== 'orders-me',
  );
  const end = Math.max(result.saleEndedAt, ...sale.map((e) => e.answeredAt));
  const buckets = Math.max(1, Math.ceil((end - result.startedAt) / BUCKET_MS));
  const out: Series = { t: [], success: [], refused: [], error: [] };
  for (let i = 0; i < buckets; i++) {
    out.t.push((i * BUCKET_MS) / 1000);
    out.success.push(0);
    out.refused.push(0);
    out.error.push(0);
  }
  for (const e of sale) {
    const i = Math.min(buckets - 1, Math.max(0, Math.floor((e.answeredAt - result.startedAt) / BUCKET_MS)));
    const outcome = outcomeOf(e);
    out[outcome][i] = (out[outcome][i] ?? 0) + 1000 / BUCKET_MS;
  }
  return out;
}

const escapeXml = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

export function svg(result: ScenarioResult): string {
  const data = series(result);
  const width = 760;
  const height = 300;
  const left = 50;
  const right = 20;
  const top = 36;
  const bottom = 40;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const duration = Math.max(data.t.length * (BUCKET_MS / 1000), 1);
  const peak = Math.max(10, ...data.success, ...data.refused, ...data.error);
  const yMax = Math.ceil(peak / 10) * 10;
  const x = (seconds: number) => left + (seconds / duration) * plotW;
  const y = (rate: number) => top + plotH - (rate / yMax) * plotH;
  const line = (values: number[]) =>
    values
      .map(
        (v, i) =>
          `${i === 0 ? 'M' : 'L'}${x(i * (BUCKET_MS / 1000) + BUCKET_MS / 2000).toFixed(1)},${y(v).toFixed(1)}`,
      )
      .join(' ');
  const faultFrom = (result.faultStartedAt - result.startedAt) / 1000;
  const faultTo = (result.clearedAt - result.startedAt) / 1000;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="16" font-size="13" font-weight="bold">${escapeXml(result.fault.title)}</text>`,
    `<rect x="${x(faultFrom).toFixed(1)}" y="${top}" width="${Math.max(1, x(faultTo) - x(faultFrom)).toFixed(1)}" height="${plotH}" fill="#f4c7c3" opacity="0.6"/>`,
    `<text x="${(x(faultFrom) + 3).toFixed(1)}" y="${top + 12}" fill="#a33">fault</text>`,
  );
  for (let i = 0; i <= 5; i++) {
    const value = (yMax / 5) * i;
    parts.push(
      `<line x1="${left}" x2="${width - right}" y1="${y(value).toFixed(1)}" y2="${y(value).toFixed(1)}" stroke="#eee"/>`,
      `<text x="${left - 6}" y="${(y(value) + 4).toFixed(1)}" text-anchor="end">${Math.round(value)}</text>`,
    );
  }
  const step = duration > 40 ? 10 : 5;
  for (let s = 0; s <= duration; s += step) {
    parts.push(`<text x="${x(s).toFixed(1)}" y="${height - bottom + 16}" text-anchor="middle">${s}</text>`);
  }
  parts.push(
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#333"/>`,
    `<line x1="${left}" x2="${width - right}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`,
    `<text x="${left + plotW / 2}" y="${height - 6}" text-anchor="middle">seconds since the sale started</text>`,
    `<text x="12" y="${top + plotH / 2}" transform="rotate(-90 12 ${top + plotH / 2})" text-anchor="middle">answers per second</text>`,
    `<path d="${line(data.success)}" fill="none" stroke="#2a7" stroke-width="2"/>`,
    `<path d="${line(data.refused)}" fill="none" stroke="#888" stroke-width="1.5" stroke-dasharray="4 3"/>`,
    `<path d="${line(data.error)}" fill="none" stroke="#d33" stroke-width="2"/>`,
  );
  const legend = [
    ['#2a7', '200/202 (bought, reserved, confirmed)'],
    ['#888', 'refused (4xx: sold out, busy, cap)'],
    ['#d33', 'errors (5xx, 429, no answer)'],
  ];
  legend.forEach(([color, label], i) => {
    const ly = 10 + i * 12;
    parts.push(
      `<line x1="${width - right - 230}" x2="${width - right - 210}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${width - right - 205}" y="${ly + 4}">${escapeXml(label ?? '')}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function counts(exchanges: readonly Exchange[]): string {
  const rows = new Map<string, Map<string, number>>();
  for (const e of exchanges) {
    const answer = e.status === null ? 'no answer' : `${e.status}${e.code ? ` ${e.code}` : ''}`;
    const byKind = rows.get(e.kind) ?? new Map<string, number>();
    byKind.set(answer, (byKind.get(answer) ?? 0) + 1);
    rows.set(e.kind, byKind);
  }
  return [...rows]
    .map(
      ([kind, answers]) =>
        `| ${kind} | ${[...answers]
          .sort((a, b) => b[1] - a[1])
          .map(([answer, n]) => `${answer}: ${n}`)
          .join(', ')} |`,
    )
    .join('\n');
}

const seconds = (ms: number | null) => (ms === null ? '—' : `${(ms / 1000).toFixed(1)} s`);

export function markdown(result: ScenarioResult, knownFailures: ReadonlyMap<string, string>): string {
  const r = result;
  const since = (at: number) => `${((at - r.startedAt) / 1000).toFixed(1)} s`;
  return `# Chaos: ${r.fault.title}

${r.fault.what}

Verdict: **${r.passed ? 'passed' : 'FAILED'}** (${r.checks.filter((c) => c.ok).length}/${r.checks.length} checks) in ${(r.durationMs / 1000).toFixed(0)} s.
Recovery (fault cleared → first successful purchase): lock ${seconds(r.recovery.lockMs)}, atomic ${seconds(r.recovery.atomicMs)}.

![throughput and errors](${r.fault.name}.svg)

## Sale

- products: lock ${r.products.lock} and atomic ${r.products.atomic} (${r.size.units} units, ${r.size.buyers} buyers each), cart ${r.products.cart.join(' + ')} (${r.size.cartUnits} units each, ${r.size.cartBuyers} buyers), hot deal ${r.products.deal} (${r.size.dealUnits} units, ${r.size.dealBuyers} buyers, cap ${r.products.dealCap}), probes ${r.products.probes.lock} (lock) and ${r.products.probes.atomic} (atomic)
- buyers arrived over ${r.size.arrivalMs / 1000} s; fault from ${since(r.faultStartedAt)} to ${since(r.clearedAt)}; sale over at ${since(r.saleEndedAt)}
- ${r.resent} purchases left unsettled by their buyers were resent once after the reconcile

## Timeline

${r.notes.map((n) => `- ${since(n.at)}: ${n.line}`).join('\n')}

## Checks

| check | ok | detail |
| --- | --- | --- |
${r.checks
  .map((c) => {
    const known = !c.ok ? knownFailures.get(`${r.fault.name}/${c.name}`) : undefined;
    return `| ${c.name} | ${c.ok ? 'yes' : known ? 'known failure' : '**no**'} | ${c.detail.replaceAll('|', '\\|')}${known ? ` (${known})` : ''} |`;
  })
  .join('\n')}

## Answers

| request | answers |
| --- | --- |
${counts(r.exchanges)}
`;
}

export interface SummaryRow {
  readonly name: string;
  readonly title: string;
  readonly passed: boolean;
  readonly failed: readonly string[];
  /** Of the failed checks, those known to fail (chaos/known-failures.ts). */
  readonly known: readonly string[];
  readonly lockMs: number | null;
  readonly atomicMs: number | null;
  readonly requests: number;
  readonly errors: number;
  readonly durationMs: number;
}

export const summaryRow = (r: ScenarioResult, knownFailures: ReadonlyMap<string, string>): SummaryRow => ({
  name: r.fault.name,
  title: r.fault.title,
  passed: r.passed,
  failed: r.checks.filter((c) => !c.ok).map((c) => c.name),
  known: r.checks.filter((c) => !c.ok && knownFailures.has(`${r.fault.name}/${c.name}`)).map((c) => c.name),
  lockMs: r.recovery.lockMs,
  atomicMs: r.recovery.atomicMs,
  requests: r.exchanges.length,
  errors: r.exchanges.filter((e) => outcomeOf(e) === 'error').length,
  durationMs: r.durationMs,
});

const verdict = (r: SummaryRow) =>
  r.passed ? 'passed' : r.known.length === r.failed.length ? 'known failure' : '**failed**';

/** `linkBase`: where the scenario reports are from the table's file (they exist after a run only). */
export function summaryTable(rows: readonly SummaryRow[], linkBase?: string): string {
  return `| scenario | verdict | recovery lock | recovery atomic | requests | errors (5xx, 429, none) | failed checks | time |
| --- | --- | ---: | ---: | ---: | ---: | --- | ---: |
${rows
  .map(
    (r) =>
      `| ${linkBase === undefined ? `${r.title} (\`${r.name}\`)` : `[${r.title}](${linkBase}${r.name}.md)`} | ${verdict(r)} | ${seconds(r.lockMs)} | ${seconds(r.atomicMs)} | ${r.requests} | ${r.errors} | ${r.failed.join(', ') || '—'} | ${(r.durationMs / 1000).toFixed(0)} s |`,
  )
  .join('\n')}`;
}

export function writeScenario(
  dir: string,
  result: ScenarioResult,
  knownFailures: ReadonlyMap<string, string>,
): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${result.fault.name}.md`), markdown(result, knownFailures));
  writeFileSync(join(dir, `${result.fault.name}.svg`), svg(result));
}
