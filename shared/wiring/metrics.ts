/**
 * The application metrics (CloudWatch EMF through Powertools Metrics), under the names the
 * dashboard and the alarms read (lib/metric-names.ts).
 *
 * The use-cases know nothing of metrics: they log one structured line per outcome through their
 * EventLog port, and `meteredLog` turns those lines into metrics on the way to the logger. So a
 * number on the dashboard is always a count of log lines one can read, and the two cannot disagree.
 *
 * Metrics are buffered per invocation and flushed by the `logMetrics` middleware (shared/http);
 * the ones that carry an extra dimension (`state`, `dependency`) are printed at once, one EMF line
 * each. Every line carries the API's request id as metadata, as the log lines do.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  BREAKER_DEPENDENCY_DIMENSION,
  HOT_DEAL_STATE_DIMENSION,
  hotDealOrderStates,
  LIMIT_DIMENSION,
  type limitNames,
  METRICS_NAMESPACE,
  METRICS_SERVICE,
  type SaleMetricName,
  saleMetrics,
} from '../../lib/metric-names.ts';
import type { LimitName } from '../limits/errors.ts';
import { logger } from '../logger.ts';
import type { EventLog } from '../stock/ports.ts';

/** Powertools warns on every flush without metrics; most invocations (a product read) have none. */
const NOTHING_TO_PUBLISH = /^No application metrics to publish/;

export const metrics = new Metrics({
  namespace: METRICS_NAMESPACE,
  serviceName: METRICS_SERVICE,
  logger: {
    debug: (...args: unknown[]) => logger.debug(String(args[0])),
    info: (...args: unknown[]) => logger.info(String(args[0])),
    warn: (...args: unknown[]) => {
      if (!NOTHING_TO_PUBLISH.test(String(args[0]))) logger.warn(String(args[0]));
    },
    error: (...args: unknown[]) => logger.error(String(args[0])),
  },
});

/** lib/metric-names.ts lists units as plain strings (no Powertools import in the CDK); these are they. */
const units = { Count: MetricUnit.Count, Milliseconds: MetricUnit.Milliseconds } as const;

let requestId: string | undefined;

/** The request this invocation serves: joins the metrics to the access log and the log lines. */
export function correlate(id: string | undefined): void {
  requestId = id;
  if (id) metrics.addMetadata('request_id', id);
  publishDueTallies();
}

/**
 * Refusals (sold out, and each abuse limit's 429s) are the bulk of a flash sale's requests once the
 * units are gone. Each is counted, but not with an EMF line of its own (a log line per refusal, 330
 * bytes of CloudWatch Logs, and in the local runtime a message from the function's thread to the
 * gateway's): the container adds them up and publishes the sum as one EMF line per metric when
 * REFUSAL_TALLY_EVERY have gathered or a second has passed since the last publication, checked at
 * every refusal and at the start of every invocation. Sums over lines are exact; what a container
 * holds when Lambda retires it (at most its last second of refusals) is not published.
 */
const REFUSAL_TALLY_EVERY = 100;
const REFUSAL_TALLY_MS = 1_000;

interface Tally {
  readonly name: SaleMetricName;
  readonly dimension?: readonly [string, string];
  count: number;
}

const tallies = new Map<string, Tally>();
/** When the tallies were last published (0: never, so a container's first refusal is published at once). */
let lastPublishedAt = 0;
let tallied = 0;

function tally(name: SaleMetricName, dimension?: readonly [string, string]): void {
  const key = dimension ? `${name}:${dimension[1]}` : name;
  let entry = tallies.get(key);
  if (!entry) {
    entry = { name, ...(dimension && { dimension }), count: 0 };
    tallies.set(key, entry);
  }
  entry.count += 1;
  tallied += 1;
  publishDueTallies();
}

function publishDueTallies(now = Date.now()): void {
  if (tallied === 0) return;
  if (tallied < REFUSAL_TALLY_EVERY && now - lastPublishedAt < REFUSAL_TALLY_MS) return;
  publishTallies(now);
}

/** Publish every tally now (one EMF line per metric and dimension), whatever has gathered. */
export function publishTallies(now = Date.now()): void {
  for (const entry of tallies.values()) {
    if (entry.count === 0) continue;
    const single = metrics.singleMetric();
    if (entry.dimension) single.addDimension(entry.dimension[0], entry.dimension[1]);
    single.addMetadata('refusals_tallied', 'true');
    single.addMetric(entry.name, units[saleMetrics[entry.name]], entry.count);
    entry.count = 0;
  }
  tallied = 0;
  lastPublishedAt = now;
}

function add(name: SaleMetricName, value: number): void {
  if (!Number.isFinite(value)) return;
  metrics.addMetric(name, units[saleMetrics[name]], value);
}

/** A metric with one extra, bounded dimension, printed at once as its own EMF line. */
function addWith(name: SaleMetricName, dimension: string, value: string, count = 1): void {
  const single = metrics.singleMetric();
  single.addDimension(dimension, value);
  if (requestId) single.addMetadata('request_id', requestId);
  single.addMetric(name, units[saleMetrics[name]], count);
}

export function breakerOpened(dependency: string): void {
  addWith('BreakerOpened', BREAKER_DEPENDENCY_DIMENSION, dependency);
}

export function breakerRejected(dependency: string): void {
  addWith('BreakerRejected', BREAKER_DEPENDENCY_DIMENSION, dependency);
}

/** The dashboard's list of limits (lib/metric-names.ts) and the limits themselves are one set. */
type SameSet<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const limitsListed: SameSet<LimitName, (typeof limitNames)[number]> = true;
void limitsListed;

/** A 429 from an abuse limit: every one is counted (tallied), though only a sample is logged (shared/http). */
export function limitReached(limit: LimitName): void {
  tally('LimitReached', [LIMIT_DIMENSION, limit]);
}

const purchaseOutcomes: Record<string, SaleMetricName> = {
  purchased: 'Purchased',
  'sold-out': 'SoldOut',
  'lock-conflict': 'LockConflict',
  error: 'PurchaseError',
};

/** Purchase fields (shared/stock/purchases.ts) and the latency metric each one feeds. */
const purchaseTimings: Record<string, SaleMetricName> = {
  duration_ms: 'PurchaseLatency',
  lock_wait_ms: 'LockWait',
  lock_acquire_ms: 'LockAcquire',
  lock_attempts: 'LockAttempts',
  reserve_ms: 'ReserveLatency',
  durable_write_ms: 'DurableWriteLatency',
};

const num = (value: unknown): number | undefined => (typeof value === 'number' ? value : undefined);

/** The metrics one log line stands for; the names of the lines are the use-cases' (their tests pin them). */
export function recordEvent(message: string, fields: Record<string, unknown>): void {
  switch (message) {
    case 'purchase': {
      // A sold-out refusal is tallied, and its latency (one Redis read) is not a purchase's.
      if (fields.outcome === 'sold-out') {
        tally('SoldOut');
        return;
      }
      const outcome = purchaseOutcomes[String(fields.outcome)];
      if (outcome) add(outcome, 1);
      for (const [field, name] of Object.entries(purchaseTimings)) {
        const value = num(fields[field]);
        if (value !== undefined) add(name, value);
      }
      return;
    }
    case 'reconcile finished': {
      if (fields.skipped === true) return;
      add('HoldsInFlight', num(fields.holds) ?? 0);
      add('ReconcileRepairs', (num(fields.restored) ?? 0) + (num(fields.repaired) ?? 0));
      add('ReconcileDrift', num(fields.drift) ?? 0);
      add('ReconcileFailures', num(fields.failed) ?? 0);
      add('OversellDetected', num(fields.oversold) ?? 0);
      return;
    }
    case 'inventory verified':
      add('OversellDetected', num(fields.oversold) ?? 0);
      return;
    case 'order placed':
    case 'order confirmed':
    case 'order settled': {
      const state = String(fields.status);
      if ((hotDealOrderStates as readonly string[]).includes(state)) {
        addWith('HotDealOrders', HOT_DEAL_STATE_DIMENSION, state);
      }
      return;
    }
  }
}

/** The use-cases' log, with the metrics its lines stand for. */
export function meteredLog(log: EventLog): EventLog {
  return {
    info(message, fields) {
      log.info(message, fields);
      recordEvent(message, fields);
    },
    warn(message, fields) {
      log.warn(message, fields);
      recordEvent(message, fields);
    },
    error(message, fields) {
      log.error(message, fields);
      recordEvent(message, fields);
    },
    // Not written, still counted: a sampled event's metrics cover every one of them.
    count: recordEvent,
  };
}

/** The log every use-case gets: Powertools Logger, metered. */
export const saleLog: EventLog = meteredLog(logger);
