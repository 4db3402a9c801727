/**
 * GET /api/admin/metrics: the local runtime's aggregate of the metrics every function printed
 * (bin/local/metric-registry.ts). The function asks for it on a BroadcastChannel, which reaches
 * every thread of the process: the runtime's main thread answers whether the function runs there
 * (LOCAL_RUNTIME=in-process, the tests) or in a worker thread (`npm start`). No network, no URL.
 *
 * A deployed stage has no such runtime: its metrics are in CloudWatch (namespace FlashSale, the
 * sale dashboard), and the route says so instead of waiting for an answer that cannot come.
 */
import { randomUUID } from 'node:crypto';
import { BroadcastChannel } from 'node:worker_threads';
import { provider } from './provider.ts';
import { settings } from './settings.ts';

export const METRICS_CHANNEL = 'flash-sale-inventory:metrics';

export interface MetricSeries {
  readonly name: string;
  readonly unit: string;
  readonly dimensions: Readonly<Record<string, string>>;
  /** Values recorded; for a count, `sum` is the total. */
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  /** Over the most recent values (bin/local/metric-registry.ts keeps a few thousand per series). */
  readonly p50: number | null;
  readonly p99: number | null;
}

export interface MetricsSnapshot {
  readonly source: 'local-runtime';
  /** When the runtime started counting. */
  readonly since: string;
  readonly emf_lines: number;
  readonly metrics: readonly MetricSeries[];
}

export type MetricsRequest = { readonly type: 'snapshot-request'; readonly id: string };
type MetricsReply = { readonly type: 'snapshot'; readonly id: string; readonly snapshot: MetricsSnapshot };

/** The stage is deployed: its metrics are in CloudWatch, not in a local runtime. */
export class MetricsNotLocalError extends Error {
  override readonly name = 'MetricsNotLocalError';
  constructor(readonly stage: string) {
    super(`Stage ${stage} keeps its metrics in CloudWatch (namespace FlashSale); see the sale dashboard`);
  }
}

/** No local runtime answered: the handler runs outside `npm start` (or its registry is off). */
export class MetricsUnavailableError extends Error {
  override readonly name = 'MetricsUnavailableError';
}

export class LocalMetricsReader {
  constructor(
    private readonly stage: string,
    private readonly timeoutMs = 2_000,
  ) {}

  read(): Promise<MetricsSnapshot> {
    if (this.stage !== 'local') return Promise.reject(new MetricsNotLocalError(this.stage));
    const id = randomUUID();
    const channel = new BroadcastChannel(METRICS_CHANNEL);
    return new Promise<MetricsSnapshot>((resolve, reject) => {
      const timer = setTimeout(() => {
        channel.close();
        reject(new MetricsUnavailableError('No local runtime answered with its metrics'));
      }, this.timeoutMs);
      channel.onmessage = (message) => {
        const reply = (message as { data: MetricsReply }).data;
        if (reply?.type !== 'snapshot' || reply.id !== id) return;
        clearTimeout(timer);
        channel.close();
        resolve(reply.snapshot);
      };
      channel.postMessage({ type: 'snapshot-request', id } satisfies MetricsRequest);
    });
  }
}

export const metricsReader = provider(
  'metrics-reader',
  {},
  [],
  () => new LocalMetricsReader(settings().STAGE),
);
