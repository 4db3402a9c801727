import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetricRegistry, readStdout } from '../../bin/local/metric-registry.ts';
import { saleMetrics } from '../../lib/metric-names.ts';
import { meteredLog, metrics, recordEvent } from '../../shared/wiring/metrics.ts';

let registry: MetricRegistry;
let stop: () => void;
beforeEach(() => {
  registry = new MetricRegistry();
  stop = readStdout(registry);
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
    expect(sums()).toMatchObject({
      Purchased: 1,
      SoldOut: 1,
      LockConflict: 1,
      PurchaseError: 1,
      PurchaseLatency: 12 + 1 + 8000 + 5 + 2,
      LockWait: 3,
      LockAcquire: 4,
      LockAttempts: 2,
      ReserveLatency: 1,
      DurableWriteLatency: 6,
    });
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
