import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MetricRegistry, readStdout } from '../../bin/local/metric-registry.ts';
import { saleMetrics } from '../../lib/metric-names.ts';
import {
  correlate,
  limitReached,
  meteredLog,
  metrics,
  publishTallies,
  recordEvent,
} from '../../shared/wiring/metrics.ts';

let registry: MetricRegistry;
let stop: () => void;
let printedLines: string[] = [];
beforeEach(() => {
  registry = new MetricRegistry();
  printedLines = [];
  stop = readStdout({
    ingest: (line: string) => {
      printedLines.push(line);
      return registry.ingest(line);
    },
  });
});
afterEach(() => stop());

const sums = () =>
  Object.fromEntries(
    registry
      .snapshot()
      .metrics.map((m) => [`${m.name}${m.dimensions.state ? `:${m.dimensions.state}` : ''}`, m.sum]),
  );

describe('metrics from the use-cases’ log lines', () => {
  it('counts a purchase by its outcome and records its step times', () => {
    recordEvent('purchase', {
      outcome: 'purchased',
      duration_ms: 12,
      lock_wait_ms: 3,
      lock_acquire_ms: 4,
      lock_attempts: 2,
      reserve_ms: 1,
      durable_write_ms: 6,
    });
    recordEvent('purchase', { outcome: 'sold-out', duration_ms: 1 });
    recordEvent('purchase', { outcome: 'lock-conflict', duration_ms: 8000 });
    recordEvent('purchase', { outcome: 'error', duration_ms: 5 });
    recordEvent('purchase', { outcome: 'replayed', duration_ms: 2 });
    metrics.publishStoredMetrics();
    publishTallies();
    expect(sums()).toMatchObject({
      Purchased: 1,
      SoldOut: 1,
      LockConflict: 1,
      PurchaseError: 1,
      // A sold-out refusal's latency is not a purchase's (it is tallied, without one).
      PurchaseLatency: 12 + 8000 + 5 + 2,
      LockWait: 3,
      LockAcquire: 4,
      LockAttempts: 2,
      ReserveLatency: 1,
      DurableWriteLatency: 6,
    });
  });

  it('tallies refusals: 250 sold-outs and 30 limit 429s in a burst print 4 EMF lines, and the sums are exact', () => {
    publishTallies(); // a fresh second
    const lines = () => printedLines.filter((l) => l.includes('refusals_tallied')).length;
    const before = lines();
    for (let i = 0; i < 250; i++) recordEvent('purchase', { outcome: 'sold-out', duration_ms: 1 });
    for (let i = 0; i < 30; i++) limitReached('purchases-in-flight');
    // 100, then 100 more (the burst's own count), then nothing until a second passes.
    expect(lines() - before).toBe(2);
    expect(sums()).toMatchObject({ SoldOut: 200 });
    publishTallies();
    expect(lines() - before).toBe(4);
    expect(sums()).toMatchObject({ SoldOut: 250, LimitReached: 30 });
  });

  it('publishes what a quiet container tallied at its next invocation a second later', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      publishTallies();
      recordEvent('purchase', { outcome: 'sold-out' });
      correlate('request-1');
      expect(sums().SoldOut).toBeUndefined();
      vi.setSystemTime(Date.now() + 1_001);
      correlate('request-2');
      expect(sums()).toMatchObject({ SoldOut: 1 });
    } finally {
      vi.useRealTimers();
      metrics.publishStoredMetrics();
    }
  });

  it('counts hot-deal orders by state, and only the four states', () => {
    const log = meteredLog({ info: () => undefined, warn: () => undefined, error: () => undefined });
    log.info('order placed', { status: 'PENDING' });
    log.info('order confirmed', { status: 'CONFIRMED' });
    log.info('order settled', { status: 'EXPIRED' });
    log.info('order settled', { status: 'SOMETHING_ELSE' });
    expect(sums()).toEqual({
      'HotDealOrders:PENDING': 1,
      'HotDealOrders:CONFIRMED': 1,
      'HotDealOrders:EXPIRED': 1,
    });
  });

  it('emits a pass’s holds, repairs, drift, failures and oversell, and nothing for a skipped pass', () => {
    recordEvent('reconcile finished', { skipped: true });
    metrics.publishStoredMetrics();
    expect(sums()).toEqual({});
    recordEvent('reconcile finished', {
      holds: 2,
      restored: 1,
      repaired: 1,
      drift: 3,
      failed: 0,
      oversold: 0,
    });
    metrics.publishStoredMetrics();
    expect(sums()).toEqual({
      HoldsInFlight: 2,
      ReconcileRepairs: 2,
      ReconcileDrift: 3,
      ReconcileFailures: 0,
      OversellDetected: 0,
    });
  });

  it('emits only names of lib/metric-names.ts', () => {
    recordEvent('purchase', { outcome: 'purchased', duration_ms: 1, reserve_ms: 1 });
    recordEvent('inventory verified', { oversold: 0 });
    metrics.publishStoredMetrics();
    for (const m of registry.snapshot().metrics) expect(Object.keys(saleMetrics)).toContain(m.name);
  });
});
