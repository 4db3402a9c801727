/**
 * The application metrics: one list that the functions emit (Powertools Metrics, CloudWatch EMF)
 * and the dashboard and alarms read, so a renamed metric cannot leave a graph silently empty.
 *
 * Plain data on purpose: no CDK import, so function code can import it without bundling the CDK.
 */

/** CloudWatch namespace of every application metric (Powertools `namespace`). */
export const METRICS_NAMESPACE = 'FlashSale';

/**
 * Value of the `service` dimension (Powertools `serviceName`). Every metric below carries it, so
 * the dashboard and the alarms select on it.
 */
export const METRICS_SERVICE = 'flash-sale-inventory';

/** The dimension Powertools names after `serviceName`. */
export const SERVICE_DIMENSION = 'service';

export type MetricUnit = 'Count' | 'Milliseconds';

/** Every metric the functions emit, with its unit. */
export const saleMetrics = {
  /** A purchase became durable (one per 200 of POST /api/purchases). */
  Purchased: 'Count',
  /** A purchase refused because the product has too little stock left. */
  SoldOut: 'Count',
  /** A purchase that did not obtain the product lock within its wait budget (409). */
  LockConflict: 'Count',
  /** A purchase that failed for any other reason (5xx). */
  PurchaseError: 'Count',

  /** End-to-end time of one purchase inside the function. */
  PurchaseLatency: 'Milliseconds',
  /** Time a purchase waited for the product lock. */
  LockWait: 'Milliseconds',
  /** Time of the successful lock acquisition round trip. */
  LockAcquire: 'Milliseconds',
  /** Time of the Redis stock reservation (the hold). */
  ReserveLatency: 'Milliseconds',
  /** Time of the DynamoDB write that makes a purchase durable. */
  DurableWriteLatency: 'Milliseconds',

  /** Lock attempts one purchase needed. */
  LockAttempts: 'Count',
  /** Holds taken in Redis and not yet settled, as seen by the reconciler. */
  HoldsInFlight: 'Count',

  /** Products whose live stock the reconciler repaired in one pass. */
  ReconcileRepairs: 'Count',
  /** Products whose Redis and DynamoDB stock disagreed when the reconciler looked. */
  ReconcileDrift: 'Count',
  /** Products the reconciler could not check or repair in one pass. */
  ReconcileFailures: 'Count',
  /** More units sold than a product ever had: the one thing this service exists to prevent. */
  OversellDetected: 'Count',

  /** Hot-deal orders that reached a state; carries the extra dimension `state`. */
  HotDealOrders: 'Count',

  /** A circuit breaker opened; carries the extra dimension `dependency` (redis, dynamodb). */
  BreakerOpened: 'Count',
  /** A call refused at once because its dependency's breaker is open (a fast 503); same dimension. */
  BreakerRejected: 'Count',

  /** A cold start (Powertools `captureColdStartMetric`); carries the extra dimension `function_name`. */
  ColdStart: 'Count',

  /** A request refused with 429 by one of the abuse limits; carries the extra dimension `limit`. */
  LimitReached: 'Count',
} as const satisfies Record<string, MetricUnit>;

export type SaleMetricName = keyof typeof saleMetrics;

/** The metric names, for `metrics.addMetric(MetricName.Purchased, ...)`. */
export const MetricName = Object.fromEntries(Object.keys(saleMetrics).map((name) => [name, name])) as {
  readonly [K in SaleMetricName]: K;
};

/** The extra dimension of `HotDealOrders` and the values it takes. */
export const HOT_DEAL_STATE_DIMENSION = 'state';
export const hotDealOrderStates = ['PENDING', 'CONFIRMED', 'CANCELLED', 'EXPIRED'] as const;
export type HotDealOrderState = (typeof hotDealOrderStates)[number];

/** The extra dimension of the breaker metrics and the values it takes. */
export const BREAKER_DEPENDENCY_DIMENSION = 'dependency';
export const breakerDependencies = ['redis', 'dynamodb'] as const;

/** The extra dimension of `LimitReached` and the values it takes (shared/limits/errors.ts LimitName). */
export const LIMIT_DIMENSION = 'limit';
export const limitNames = [
  'login-username',
  'login-address',
  'signup-address',
  'purchases-in-flight',
  'lock-line',
] as const;

/** The extra dimension Powertools adds to `ColdStart`. */
export const COLD_START_FUNCTION_DIMENSION = 'function_name';

/**
 * The environment variables Powertools reads for the namespace and the service, set on every
 * deployed function so that `new Metrics()` without arguments emits where the dashboard looks.
 */
export const metricsEnvironment = {
  POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
  POWERTOOLS_SERVICE_NAME: METRICS_SERVICE,
} as const;
