/**
 * The local runtime's metrics without AWS: it reads the CloudWatch EMF lines the functions print
 * (shared/wiring/metrics.ts, through Powertools Metrics), as CloudWatch Logs would, and aggregates
 * them. So the numbers at /metrics (Prometheus text) and GET /api/admin/metrics (JSON) come from the
 * very records a deployed function sends to CloudWatch, not from a second set of counters.
 *
 * Counts are summed; millisecond metrics keep count, sum, min, max and the last RESERVOIR values
 * for their p50 and p99. Series are keyed by metric name and dimensions, which are bounded by design
 * (no user, no product id), so the registry stays small whatever the traffic.
 */
import { BroadcastChannel } from 'node:worker_threads';
import {
  METRICS_CHANNEL,
  type MetricSeries,
  type MetricsRequest,
  type MetricsSnapshot,
} from '../../shared/wiring/local-metrics.ts';

/** Latency values kept per series for its percentiles. */
const RESERVOIR = 4_096;

interface Series {
  readonly name: string;
  readonly unit: string;
  readonly dimensions: Record<string, string>;
  count: number;
  sum: number;
  min: number;
  max: number;
  readonly recent: number[];
}

interface EmfDirective {
  readonly Namespace: string;
  readonly Dimensions: readonly (readonly string[])[];
  readonly Metrics: readonly { readonly Name: string; readonly Unit?: string }[];
}

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[index] ?? null;
}

const snake = (name: string) => name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
const escapeLabel = (value: string) =>
  value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export class MetricRegistry {
  private readonly series = new Map<string, Series>();
  private readonly since = new Date();
  private channel: BroadcastChannel | undefined;
  /** EMF lines read, and lines that looked like EMF but could not be read. */
  lines = 0;
  rejected = 0;

  /** Read one printed line; true when it was an EMF record. Anything else is ignored. */
  ingest(line: string): boolean {
    if (!line.includes('"_aws"') || !line.includes('CloudWatchMetrics')) return false;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.rejected += 1;
      return false;
    }
    const directives = (record._aws as { CloudWatchMetrics?: EmfDirective[] } | undefined)?.CloudWatchMetrics;
    if (!Array.isArray(directives)) return false;
    this.lines += 1;
    for (const directive of directives) {
      const names = [...new Set(directive.Dimensions.flat())].sort();
      const dimensions = Object.fromEntries(names.map((n) => [n, String(record[n] ?? '')]));
      for (const metric of directive.Metrics) {
        const raw = record[metric.Name];
        const values = (Array.isArray(raw) ? raw : [raw]).filter((v): v is number => typeof v === 'number');
        for (const value of values) this.add(metric.Name, metric.Unit ?? 'None', dimensions, value);
      }
    }
    return true;
  }

  private add(name: string, unit: string, dimensions: Record<string, string>, value: number): void {
    const key = `${name}|${JSON.stringify(dimensions)}`;
    let series = this.series.get(key);
    if (!series) {
      series = { name, unit, dimensions, count: 0, sum: 0, min: value, max: value, recent: [] };
      this.series.set(key, series);
    }
    series.count += 1;
    series.sum += value;
    series.min = Math.min(series.min, value);
    series.max = Math.max(series.max, value);
    series.recent.push(value);
    if (series.recent.length > RESERVOIR) series.recent.shift();
  }

  snapshot(): MetricsSnapshot {
    const metrics: MetricSeries[] = [...this.series.values()]
      .map((s) => {
        const sorted = [...s.recent].sort((a, b) => a - b);
        return {
          name: s.name,
          unit: s.unit,
          dimensions: s.dimensions,
          count: s.count,
          sum: s.sum,
          min: s.min,
          max: s.max,
          p50: percentile(sorted, 0.5),
          p99: percentile(sorted, 0.99),
        };
      })
      .sort(
        (a, b) =>
          a.name.localeCompare(b.name) ||
          JSON.stringify(a.dimensions).localeCompare(JSON.stringify(b.dimensions)),
      );
    return { source: 'local-runtime', since: this.since.toISOString(), emf_lines: this.lines, metrics };
  }

  /**
   * Prometheus text format 0.0.4: a count is a counter (`flashsale_purchased_total`), a latency a
   * summary in milliseconds (`flashsale_purchase_latency_ms{quantile="0.99"}`, `_sum`, `_count`).
   */
  prometheus(): string {
    const byName = new Map<string, MetricSeries[]>();
    for (const s of this.snapshot().metrics) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
    const out: string[] = [];
    for (const [name, all] of byName) {
      const labels = (s: MetricSeries, extra: Record<string, string> = {}) => {
        const pairs = Object.entries({ ...s.dimensions, ...extra }).map(
          ([k, v]) => `${k}="${escapeLabel(v)}"`,
        );
        return pairs.length > 0 ? `{${pairs.join(',')}}` : '';
      };
      if (all[0]?.unit === 'Milliseconds') {
        const metric = `flashsale_${snake(name)}_ms`;
        out.push(
          `# HELP ${metric} ${name} (milliseconds), from the functions' EMF records`,
          `# TYPE ${metric} summary`,
        );
        for (const s of all) {
          out.push(`${metric}${labels(s, { quantile: '0.5' })} ${s.p50 ?? 'NaN'}`);
          out.push(`${metric}${labels(s, { quantile: '0.99' })} ${s.p99 ?? 'NaN'}`);
          out.push(`${metric}_sum${labels(s)} ${s.sum}`, `${metric}_count${labels(s)} ${s.count}`);
        }
      } else {
        const metric = `flashsale_${snake(name)}_total`;
        out.push(`# HELP ${metric} ${name}, from the functions' EMF records`, `# TYPE ${metric} counter`);
        for (const s of all) out.push(`${metric}${labels(s)} ${s.sum}`);
      }
    }
    return `${out.join('\n')}\n`;
  }

  /** Answer GET /api/admin/metrics: the function asks on a channel every thread of this process shares. */
  serve(): this {
    if (this.channel) return this;
    const channel = new BroadcastChannel(METRICS_CHANNEL);
    channel.onmessage = (message) => {
      const request = (message as { data: MetricsRequest }).data;
      if (request?.type === 'snapshot-request') {
        channel.postMessage({ type: 'snapshot', id: request.id, snapshot: this.snapshot() });
      }
    };
    channel.unref();
    this.channel = channel;
    return this;
  }

  close(): void {
    this.channel?.close();
    this.channel = undefined;
  }
}

/**
 * Read every line this process writes to stdout (the functions' output: in-process handlers write
 * there, and worker threads' stdout is piped through it) into `registry`, passing it on unchanged.
 * Returns the function that stops reading.
 */
export function readStdout(registry: Pick<MetricRegistry, 'ingest'>): () => void {
  const stdout = process.stdout;
  const original = stdout.write;
  let carry = '';
  const write = function (this: typeof stdout, chunk: unknown, ...rest: unknown[]): boolean {
    try {
      const text =
        carry + (typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      const lines = text.split('\n');
      carry = (lines.pop() ?? '').slice(-65_536);
      for (const line of lines) registry.ingest(line);
    } catch {
      // Reading metrics must never break the output itself.
    }
    return (original as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  };
  stdout.write = write as typeof stdout.write;
  return () => {
    if (stdout.write === write) stdout.write = original;
  };
}
