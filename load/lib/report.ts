/**
 * What a run leaves behind besides artillery's JSON: a short markdown report and a latency-over-time
 * picture (SVG, drawn here: one chart does not justify a charting dependency), and the table rows
 * the README quotes.
 */
import type { ScenarioParams } from '../scenarios.ts';
import type { CpuUsage } from './cpu.ts';
import type { Answer } from './events.ts';
import { describeRepairs, repairTotal, type Verdict } from './verify.ts';

/** One endpoint's answers: how many, and their latency to first byte. */
export interface EndpointLatency {
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
}

export interface RunMetrics {
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly purchases: number;
  readonly purchasesPerSecond: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly purchaseP50: number;
  readonly purchaseP95: number;
  readonly purchaseP99: number;
  /** Per endpoint (register, login, list, stock, purchase: whichever the scenario sends). */
  readonly endpoints: Record<string, EndpointLatency>;
  /** Sign-up variants: per user, registration sent → login answered. */
  readonly signup: EndpointLatency | null;
  /** 5xx, statuses the contract does not list, and requests that got no answer. */
  readonly errors: number;
  readonly lockConflicts: number;
  readonly soldOut: number;
  readonly seconds: number;
}

export interface RunResult {
  readonly scenario: string;
  readonly strategy: string;
  readonly scale: string;
  readonly target: string;
  /** Where register and login went, when not to the target (locally: the sign-up runtime). */
  readonly authTarget?: string;
  /** bcrypt cost of the runtime the run went to, when known (local). */
  readonly bcryptCost: number | null;
  /** Buyers registered and logged in inside the run. */
  readonly signup: boolean;
  readonly dir: string;
  readonly summary: string;
  readonly params: ScenarioParams;
  readonly productIds: number[];
  readonly metrics: RunMetrics;
  readonly thresholds: { readonly passed: boolean; readonly checks: { ok: boolean; expression: string }[] };
  readonly cpu: CpuUsage;
  readonly verdict: Verdict;
  readonly passed: boolean;
}

export const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? Number(n.toFixed(digits)).toString() : '–');
const pct = (ratio: number | null) => (ratio === null ? '–' : `${Math.round(ratio * 100)}%`);

export const tableHeader =
  '| scenario | strategy | requests | req/s | purchases/s | p50 ms | p95 ms | p99 ms | purchase p99 ms | sign-up p99 ms | errors | 409 | sold / units | oversold | before repair | repairs | FCFS first served | out of turn | thresholds | verdict |\n' +
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|';

export function tableRow(r: RunResult): string {
  const m = r.metrics;
  const v = r.verdict;
  const units = v.products.reduce((sum, p) => sum + p.initial, 0);
  const sold = v.products.reduce((sum, p) => sum + p.sold, 0);
  const fcfs = v.fcfs;
  const signup = m.signup ? `${fmt(m.signup.p99)} (cost ${r.bcryptCost ?? '?'})` : '–';
  const repairs = v.repairs ? String(repairTotal(v.repairs)) : 'n/a';
  const outOfTurn = `${fcfs.violations}${fcfs.judged ? '' : ' (reported)'}`;
  return `| ${r.scenario} | ${r.strategy} | ${m.requests} | ${fmt(m.requestsPerSecond, 0)} | ${fmt(m.purchasesPerSecond, 0)} | ${fmt(m.p50)} | ${fmt(m.p95)} | ${fmt(m.p99)} | ${fmt(m.purchaseP99)} | ${signup} | ${m.errors} | ${m.lockConflicts} | ${sold} / ${units} | ${v.oversold} | ${v.preRepair.agreed ? 'agreed' : 'DISAGREED'} | ${repairs} | ${fcfs.served}/${fcfs.first} (${pct(fcfs.ratio)}) | ${outOfTurn} | ${r.thresholds.passed ? 'pass' : 'FAIL'} | ${v.passed ? 'pass' : 'FAIL'} |`;
}

/** The per-endpoint latency table of one run. */
export function endpointTable(m: RunMetrics): string {
  const rows = Object.entries(m.endpoints).map(
    ([name, l]) => `| ${name} | ${l.count} | ${fmt(l.p50)} | ${fmt(l.p95)} | ${fmt(l.p99)} |`,
  );
  if (m.signup)
    rows.push(
      `| sign-up (register sent → login answered) | ${m.signup.count} | ${fmt(m.signup.p50)} | ${fmt(m.signup.p95)} | ${fmt(m.signup.p99)} |`,
    );
  return ['| endpoint | answers | p50 ms | p95 ms | p99 ms |', '|---|---|---|---|---|', ...rows].join('\n');
}

export function markdown(r: RunResult, context: { machine: string; date: string; command: string }): string {
  const m = r.metrics;
  const cores = Object.entries(r.cpu.cores)
    .map(([name, used]) => `${name} ${used}`)
    .join(', ');
  const generatorBound = (r.cpu.cores.artillery ?? 0) >= 0.9;
  return [
    `# ${r.scenario} × ${r.strategy} (${r.scale}): ${r.passed ? 'PASS' : 'FAIL'}`,
    '',
    `${r.summary}. Target ${r.target}${r.authTarget ? ` (register and login: ${r.authTarget})` : ''}; products ${r.productIds.join(', ')}.`,
    `${context.date} on ${context.machine}. Reproduce: \`${context.command}\`.`,
    '',
    tableHeader,
    tableRow(r),
    '',
    `Purchase answers by status: ${Object.entries(r.verdict.statuses)
      .map(([status, n]) => `${status}: ${n}`)
      .join(
        ', ',
      )}. Load window ${fmt(m.seconds)} s.${r.signup ? ` Buyers signed up inside the run at bcrypt cost ${r.bcryptCost ?? 'of the stage'}; the latency limits apply to every request but register and login.` : ''}`,
    '',
    '## Latency per endpoint (client side, to first byte)',
    '',
    endpointTable(m),
    '',
    '## Thresholds (artillery ensure)',
    '',
    ...r.thresholds.checks.map((c) => `- ${c.ok ? 'ok' : 'FAIL'}: \`${c.expression}\``),
    '',
    '## Verdict on the data',
    '',
    `Before any repair: ${r.verdict.preRepair.agreed ? 'Redis agreed with DynamoDB' : 'Redis DISAGREED with DynamoDB'}${r.verdict.preRepair.waitedMs > 0 ? ` after ${r.verdict.preRepair.waitedMs} ms of letting holds settle` : ''}. Reconcile: ${r.verdict.reconcile}${r.verdict.repairs ? ` (${describeRepairs(r.verdict.repairs)})` : ''}.${r.verdict.fault ? ` Injected fault: ${r.verdict.fault}.` : ''} Purchases listed from ${r.verdict.source}.`,
    '',
    ...r.verdict.checks.map((c) => `- ${c.ok ? 'ok' : 'FAIL'}: ${c.name} (${c.detail})`),
    '',
    '## CPU (cores used during the load window)',
    '',
    `${cores || 'not measured'}; machine busy ${pct(r.cpu.machineBusy)}.` +
      (generatorBound
        ? ' artillery used a full core: it was at its own ceiling, so the rates here are the generator’s, not the service’s.'
        : ''),
    '',
    '![latency over time](latency.svg)',
    '',
  ].join('\n');
}

/**
 * p50/p95/p99 of the requests sent in each time bucket, over the requests per second, with
 * optional marks (when the last unit was sold).
 */
export function latencySvg(
  answers: readonly Answer[],
  title: string,
  marks: readonly { at: number; label: string }[] = [],
): string {
  const width = 760;
  const height = 320;
  const pad = { left: 56, right: 70, top: 30, bottom: 40 };
  if (answers.length === 0) {
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="60"><text x="10" y="30" font-family="sans-serif" font-size="13">${escapeXml(title)}: no answers</text></svg>\n`;
  }
  const start = answers[0]?.at ?? 0;
  const span = Math.max(1, ((answers.at(-1)?.at ?? start) - start) / 1000);
  // Buckets from 0.1 s (a 2 s flash crowd) up, at most 120 of them.
  const bucket = [0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60].find((b) => span / b <= 120) ?? Math.ceil(span / 120);
  const buckets: number[][] = [];
  for (const a of answers) {
    const i = Math.floor((a.at - start) / 1000 / bucket);
    const list = buckets[i] ?? [];
    list.push(a.ms);
    buckets[i] = list;
  }
  const rows = Array.from({ length: buckets.length }, (_, i) => {
    const sorted = (buckets[i] ?? []).sort((a, b) => a - b);
    return {
      i,
      rate: sorted.length / bucket,
      p50: percentile(sorted, 50),
      p95: percentile(sorted, 95),
      p99: percentile(sorted, 99),
      n: sorted.length,
    };
  });
  const maxMs = niceCeil(Math.max(1, ...rows.map((r) => r.p99)));
  const maxRate = niceCeil(Math.max(1, ...rows.map((r) => r.rate)));
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const base = pad.top + plotH;
  const slot = plotW / rows.length;
  const x = (i: number) => pad.left + (i + 0.5) * slot;
  const xAt = (epochMs: number) => pad.left + ((epochMs - start) / 1000 / bucket) * slot;
  const y = (ms: number) => base - (ms / maxMs) * plotH;
  const yRate = (rate: number) => base - (rate / maxRate) * plotH;
  const line = (key: 'p50' | 'p95' | 'p99', color: string) =>
    `<polyline fill="none" stroke="${color}" stroke-width="2" points="${rows
      .filter((r) => r.n > 0)
      .map((r) => `${x(r.i).toFixed(1)},${y(r[key]).toFixed(1)}`)
      .join(' ')}"/>`;
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const every = Math.max(1, Math.ceil(rows.length / 8));
  const n = (v: number) => v.toFixed(1);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">
<rect width="${width}" height="${height}" fill="white"/>
<text x="${pad.left}" y="18" font-size="13">${escapeXml(title)}</text>
${rows.map((r) => `<rect x="${n(x(r.i) - slot / 2 + 0.5)}" y="${n(yRate(r.rate))}" width="${n(Math.max(0.5, slot - 1))}" height="${n(base - yRate(r.rate))}" fill="#dddddd"/>`).join('\n')}
${ticks.map((f) => `<line x1="${pad.left}" x2="${width - pad.right}" y1="${n(y(f * maxMs))}" y2="${n(y(f * maxMs))}" stroke="#e8e8e8"/><text x="${pad.left - 6}" y="${n(y(f * maxMs) + 4)}" text-anchor="end">${fmt(f * maxMs, 0)}</text><text x="${width - pad.right + 6}" y="${n(yRate(f * maxRate) + 4)}" fill="#888888">${fmt(f * maxRate, 0)}</text>`).join('\n')}
${rows
  .filter((r) => r.i % every === 0)
  .map((r) => `<text x="${n(x(r.i))}" y="${base + 14}" text-anchor="middle">${fmt(r.i * bucket)}</text>`)
  .join('\n')}
${marks.map((m) => `<line x1="${n(xAt(m.at))}" x2="${n(xAt(m.at))}" y1="${pad.top}" y2="${base}" stroke="#555555" stroke-dasharray="4 3"/><text x="${n(xAt(m.at) + 4)}" y="${pad.top + 10}" fill="#555555">${escapeXml(m.label)}</text>`).join('\n')}
${line('p50', '#1f77b4')}
${line('p95', '#ff7f0e')}
${line('p99', '#d62728')}
<line x1="${pad.left}" x2="${width - pad.right}" y1="${base}" y2="${base}" stroke="#333333"/>
<text x="${width - pad.right}" y="${height - 6}" text-anchor="end">seconds since the first request was sent (buckets of ${bucket} s)</text>
<text x="14" y="${pad.top + plotH / 2}" transform="rotate(-90 14 ${pad.top + plotH / 2})" text-anchor="middle">latency, ms (to first byte)</text>
<text x="${width - 8}" y="${pad.top + plotH / 2}" transform="rotate(90 ${width - 8} ${pad.top + plotH / 2})" text-anchor="middle" fill="#888888">requests per second (bars)</text>
<text x="${pad.left}" y="${height - 6}"><tspan fill="#1f77b4">■ p50</tspan>  <tspan fill="#ff7f0e">■ p95</tspan>  <tspan fill="#d62728">■ p99</tspan></text>
</svg>
`;
}

function niceCeil(n: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(n));
  return ([1, 2, 2.5, 5, 10].find((step) => step * magnitude >= n) ?? 10) * magnitude;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
