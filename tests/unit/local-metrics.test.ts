import { BroadcastChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { MetricRegistry } from '../../bin/local/metric-registry.ts';
import { toErrorResponse } from '../../shared/http/index.ts';
import {
  LocalMetricsReader,
  METRICS_CHANNEL,
  MetricsNotLocalError,
  MetricsUnavailableError,
} from '../../shared/wiring/local-metrics.ts';

const emf = (
  fields: Record<string, unknown>,
  metrics: { Name: string; Unit: string }[],
  dims = ['service'],
) =>
  JSON.stringify({
    _aws: {
      Timestamp: Date.now(),
      CloudWatchMetrics: [{ Namespace: 'FlashSale', Dimensions: [dims], Metrics: metrics }],
    },
    service: 'flash-sale-inventory',
    ...fields,
  });

describe('MetricRegistry', () => {
  it('adds up EMF lines and ignores every other line', () => {
    const registry = new MetricRegistry();
    expect(registry.ingest('{"level":"INFO","message":"purchase"}')).toBe(false);
    expect(registry.ingest('not json at all')).toBe(false);
    for (const ms of [10, 20, 30, 40]) {
      registry.ingest(
        emf({ Purchased: 1, PurchaseLatency: ms }, [
          { Name: 'Purchased', Unit: 'Count' },
          { Name: 'PurchaseLatency', Unit: 'Milliseconds' },
        ]),
      );
    }
    registry.ingest(
      emf(
        { HotDealOrders: 1, state: 'PENDING' },
        [{ Name: 'HotDealOrders', Unit: 'Count' }],
        ['service', 'state'],
      ),
    );
    const snapshot = registry.snapshot();
    expect(snapshot.emf_lines).toBe(5);
    expect(snapshot.metrics.find((m) => m.name === 'Purchased')).toMatchObject({ count: 4, sum: 4 });
    expect(snapshot.metrics.find((m) => m.name === 'PurchaseLatency')).toMatchObject({
      unit: 'Milliseconds',
      count: 4,
      sum: 100,
      min: 10,
      max: 40,
      p50: 20,
      p99: 40,
    });
    expect(snapshot.metrics.find((m) => m.name === 'HotDealOrders')?.dimensions).toEqual({
      service: 'flash-sale-inventory',
      state: 'PENDING',
    });
    const text = registry.prometheus();
    expect(text).toContain('flashsale_purchased_total{service="flash-sale-inventory"} 4\n');
    expect(text).toContain(
      'flashsale_hot_deal_orders_total{service="flash-sale-inventory",state="PENDING"} 1\n',
    );
    expect(text).toContain('flashsale_purchase_latency_ms_count{service="flash-sale-inventory"} 4\n');
  });

  it('answers a reader on the shared channel', async () => {
    const registry = new MetricRegistry().serve();
    registry.ingest(emf({ SoldOut: 2 }, [{ Name: 'SoldOut', Unit: 'Count' }]));
    try {
      const snapshot = await new LocalMetricsReader('local', 2_000).read();
      expect(snapshot.metrics.find((m) => m.name === 'SoldOut')?.sum).toBe(2);
    } finally {
      registry.close();
    }
  });
});

describe('LocalMetricsReader', () => {
  it('tells a deployed stage that its metrics are in CloudWatch: 501', async () => {
    const error = await new LocalMetricsReader('prod').read().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MetricsNotLocalError);
    expect(toErrorResponse(error)).toMatchObject({ status: 501, body: { code: 'METRICS_IN_CLOUDWATCH' } });
  });

  it('answers 503 when no local runtime answers in time', async () => {
    const silent = new BroadcastChannel(METRICS_CHANNEL);
    try {
      const error = await new LocalMetricsReader('local', 50).read().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MetricsUnavailableError);
      expect(toErrorResponse(error)).toMatchObject({ status: 503, body: { code: 'SERVICE_UNAVAILABLE' } });
    } finally {
      silent.close();
    }
  });
});
