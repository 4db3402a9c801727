/**
 * Deploy settings: the CDK context values (defaults in cdk.json, overridable with `-c key=value`)
 * read and validated once, so a typo fails the synth instead of deploying something odd.
 *
 * The two maps (`reservedConcurrency`, `routeThrottles`) have their defaults here rather than in
 * cdk.json: a `-c` value replaces a cdk.json value whole, and a map given on the command line should
 * change the entries it names and keep the others.
 */
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';
import { type FunctionName, fallbackRoute, httpRoutes, scheduledFunctions } from '#shared/routes';

export type RedisMode = 'replication-group' | 'cluster' | 'serverless';
export const redisModes: readonly RedisMode[] = ['replication-group', 'cluster', 'serverless'];

export type HttpFunctionName = (typeof httpRoutes)[number]['function'];

/** API Gateway token bucket of one route: steady requests per second and the bucket size. */
export interface Throttle {
  readonly rateLimit: number;
  readonly burstLimit: number;
}

export interface DeploySettings {
  /** Deployment stage (`dev`, `prod`, ...): part of the stack name and the functions' STAGE. */
  readonly stage: string;
  /** Which ElastiCache flavour holds the live stock, the holds and the locks. */
  readonly redisMode: RedisMode;
  /** ElastiCache node type, e.g. `cache.t4g.small` (not used by `serverless`). */
  readonly redisNodeType: string;
  /**
   * Read replicas besides the primary (per shard in `cluster` mode); at least 1 turns on automatic
   * failover and Multi-AZ. Not used by `serverless`.
   */
  readonly redisReplicas: number;
  /** Shards (node groups) in `cluster` mode. */
  readonly redisShards: number;
  /** Retention of every log group of the stack. */
  readonly logRetention: RetentionDays;
  /** Where alarm notifications are mailed, if anywhere. */
  readonly alarmEmail: string | undefined;
  /** The account's Lambda concurrency quota in the region (`ConcurrentExecutions`). */
  readonly accountConcurrencyLimit: number;
  /** Reserved concurrency per function; a function absent here draws from the unreserved pool. */
  readonly reservedConcurrency: Readonly<Partial<Record<FunctionName, number>>>;
  /** Provisioned concurrency of create-purchase (0: none, and no alias). */
  readonly purchaseProvisionedConcurrency: number;
  /** The stage-wide default throttle of every route. */
  readonly apiThrottle: Throttle;
  /** Per-route throttles that override the stage default, by function name. */
  readonly routeThrottles: Readonly<Partial<Record<HttpFunctionName, Throttle>>>;
  /**
   * Settings every function gets: CORS_ALLOWED_ORIGINS from `corsAllowedOrigins` (comma-separated
   * https origins; none by default) and SIGNUPS_PER_ADDRESS from `signupsPerAddress` (the functions'
   * deployed default, 20 an hour, when unset; 0 for a load test that signs up a crowd from one host).
   */
  readonly functionEnvironment: Readonly<Record<string, string>>;
}

/**
 * Bulkheads. Reserved concurrency is both a floor and a ceiling: the purchase and hot-deal paths and
 * the reconciler get a floor that nothing else can take from them, and the paths a crowd hammers
 * before and around a sale (sign-up with its bcrypt hashing, login, product listing) get a ceiling,
 * so they cannot use up the account's concurrency while buyers wait. Everything else shares the
 * unreserved pool, which Lambda never lets fall below 100. The sum (827) fits the default quota of
 * 1,000 minus that pool; a smaller quota needs `accountConcurrencyLimit` and smaller values.
 */
export const defaultReservedConcurrency: Readonly<Partial<Record<FunctionName, number>>> = {
  'create-purchase': 400,
  'create-order': 100,
  'confirm-order': 50,
  // Once a minute with a 55 s timeout: two slots, so a slow pass never makes the next one throttle.
  'reconcile-inventory': 2,
  'register-user': 50,
  'login-user': 100,
  'list-products': 50,
  'get-product': 50,
  'get-product-stock': 25,
};

/**
 * Per-route throttles, replacing the stage default on the routes that matter. Sign-up and login are bcrypt-bound and the first thing a bot
 * floods, so they get far less than purchases; their bursts still let the load runner's batches of
 * 50 sign-ups and logins through.
 */
export const defaultRouteThrottles: Readonly<Partial<Record<HttpFunctionName, Throttle>>> = {
  'register-user': { rateLimit: 50, burstLimit: 100 },
  'login-user': { rateLimit: 100, burstLimit: 200 },
  'create-purchase': { rateLimit: 1_000, burstLimit: 2_000 },
};

/** Lambda keeps at least this much of the account's concurrency unreserved. */
export const UNRESERVED_CONCURRENCY_FLOOR = 100;

/** The retention periods CloudWatch Logs accepts, in days; never-expiring logs are not an option. */
const retentionValues = new Set<number>(
  Object.values(RetentionDays).filter(
    (v): v is number => typeof v === 'number' && v !== RetentionDays.INFINITE,
  ),
);

const functionNames = new Set<string>(
  [...httpRoutes, fallbackRoute, ...scheduledFunctions].map((f) => f.function),
);
const httpFunctionNames = new Set<string>(httpRoutes.map((r) => r.function));

/** Values given with `-c key=value` arrive as strings; cdk.json values keep their JSON type. */
function integer(node: Node, key: string): number {
  const raw: unknown = node.tryGetContext(key);
  const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new Error(`Context "${key}" must be an integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function integerBetween(node: Node, key: string, min: number, max: number): number {
  const value = integer(node, key);
  if (value < min || value > max) {
    throw new Error(`Context "${key}" must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

function text(node: Node, key: string, pattern: RegExp): string {
  const raw: unknown = node.tryGetContext(key);
  if (typeof raw !== 'string' || !pattern.test(raw)) {
    throw new Error(`Context "${key}" must match ${pattern}, got ${JSON.stringify(raw)}`);
  }
  return raw;
}

/** A JSON object from context: an object from cdk.json or a JSON string from `-c`; undefined if unset. */
function jsonObject(node: Node, key: string): Record<string, unknown> | undefined {
  const raw: unknown = node.tryGetContext(key);
  if (raw === undefined) return undefined;
  let value: unknown = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      throw new Error(`Context "${key}" must be a JSON object, got ${JSON.stringify(raw)}`);
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`Context "${key}" must be a JSON object, got ${JSON.stringify(raw)}`);
  }
  return value as Record<string, unknown>;
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

/**
 * `reservedConcurrency`: a JSON object of function name → integer (0 stops the function: an
 * emergency brake) or null (back to the unreserved pool), merged over the defaults; or `none`, no
 * reservation at all (an account whose quota is too small for any).
 */
function reservedConcurrency(node: Node): Partial<Record<FunctionName, number>> {
  if (node.tryGetContext('reservedConcurrency') === 'none') return {};
  const overrides = jsonObject(node, 'reservedConcurrency') ?? {};
  const merged: Record<string, number> = { ...defaultReservedConcurrency };
  for (const [name, value] of Object.entries(overrides)) {
    if (!functionNames.has(name)) {
      throw new Error(`Context "reservedConcurrency" names no function of shared/routes.ts: ${name}`);
    }
    if (value === null) delete merged[name];
    else if (isNonNegativeInteger(value)) merged[name] = value;
    else {
      throw new Error(
        `Context "reservedConcurrency" for ${name} must be a non-negative integer or null, got ${JSON.stringify(value)}`,
      );
    }
  }
  return merged as Partial<Record<FunctionName, number>>;
}

/** `routeThrottles`: function name → `{rateLimit, burstLimit}`, merged over the defaults. */
function routeThrottles(node: Node): Partial<Record<HttpFunctionName, Throttle>> {
  const overrides = jsonObject(node, 'routeThrottles') ?? {};
  const merged: Record<string, Throttle> = { ...defaultRouteThrottles };
  for (const [name, value] of Object.entries(overrides)) {
    if (!httpFunctionNames.has(name)) {
      throw new Error(`Context "routeThrottles" names no HTTP route of shared/routes.ts: ${name}`);
    }
    if (value === null) {
      delete merged[name];
      continue;
    }
    const limits = value as Partial<Throttle>;
    if (
      typeof limits !== 'object' ||
      !isNonNegativeInteger(limits.rateLimit) ||
      !isNonNegativeInteger(limits.burstLimit)
    ) {
      throw new Error(
        `Context "routeThrottles" for ${name} must be {"rateLimit": n, "burstLimit": n}, got ${JSON.stringify(value)}`,
      );
    }
    merged[name] = { rateLimit: limits.rateLimit, burstLimit: limits.burstLimit };
  }
  return merged as Partial<Record<HttpFunctionName, Throttle>>;
}

function functionEnvironment(node: Node): Record<string, string> {
  const environment: Record<string, string> = {};
  const origins: unknown = node.tryGetContext('corsAllowedOrigins');
  if (origins !== undefined && origins !== '') {
    const list = typeof origins === 'string' ? origins.split(',').map((o) => o.trim()) : [];
    if (list.length === 0 || !list.every((o) => /^https:\/\/[a-z0-9.-]+(:\d+)?$/.test(o))) {
      throw new Error(
        `Context "corsAllowedOrigins" must be comma-separated https origins, got ${JSON.stringify(origins)}`,
      );
    }
    environment.CORS_ALLOWED_ORIGINS = list.join(',');
  }
  if (node.tryGetContext('signupsPerAddress') !== undefined) {
    environment.SIGNUPS_PER_ADDRESS = String(integerBetween(node, 'signupsPerAddress', 0, 1_000_000));
  }
  return environment;
}

export function readDeploySettings(node: Node): DeploySettings {
  // The stage becomes part of the stack name: letters, digits and hyphens, starting with a letter.
  const stage = text(node, 'stage', /^[a-z][a-z0-9-]{0,19}$/);
  const redisNodeType = text(node, 'redisNodeType', /^cache\.[a-z0-9-]+\.[a-z0-9]+$/);

  const redisMode = node.tryGetContext('redisMode') as unknown;
  if (!redisModes.includes(redisMode as RedisMode)) {
    throw new Error(
      `Context "redisMode" must be one of ${redisModes.join(', ')}, got ${JSON.stringify(redisMode)}`,
    );
  }
  // ElastiCache allows up to 5 replicas per shard, and up to 500 shards; 30 keeps a typo from ordering them.
  const redisReplicas = integerBetween(node, 'redisReplicas', 0, 5);
  const redisShards = integerBetween(node, 'redisShards', 1, 30);

  const logRetentionDays = integer(node, 'logRetentionDays');
  if (!retentionValues.has(logRetentionDays)) {
    throw new Error(
      `Context "logRetentionDays" must be one of ${[...retentionValues].sort((a, b) => a - b).join(', ')}, got ${logRetentionDays}`,
    );
  }

  const alarmEmail: unknown = node.tryGetContext('alarmEmail');
  if (
    alarmEmail !== undefined &&
    (typeof alarmEmail !== 'string' || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(alarmEmail))
  ) {
    throw new Error(`Context "alarmEmail" must be an email address, got ${JSON.stringify(alarmEmail)}`);
  }

  const accountConcurrencyLimit = integerBetween(node, 'accountConcurrencyLimit', 10, 1_000_000);
  const reserved = reservedConcurrency(node);
  const reservedTotal = Object.values(reserved).reduce((sum, n) => sum + (n ?? 0), 0);
  const reservable = accountConcurrencyLimit - UNRESERVED_CONCURRENCY_FLOOR;
  if (reservedTotal > reservable) {
    throw new Error(
      `Context "reservedConcurrency" reserves ${reservedTotal} executions, but a quota of ${accountConcurrencyLimit} ` +
        `(accountConcurrencyLimit) leaves ${Math.max(reservable, 0)} to reserve: Lambda keeps ${UNRESERVED_CONCURRENCY_FLOOR} ` +
        'unreserved. Raise the quota, lower the reservations, or pass -c reservedConcurrency=none.',
    );
  }

  const purchaseProvisionedConcurrency = integerBetween(node, 'purchaseProvisionedConcurrency', 0, 100_000);
  const purchaseReserved = reserved['create-purchase'];
  if (purchaseReserved !== undefined && purchaseProvisionedConcurrency > purchaseReserved) {
    throw new Error(
      `Context "purchaseProvisionedConcurrency" (${purchaseProvisionedConcurrency}) cannot exceed the reserved ` +
        `concurrency of create-purchase (${purchaseReserved}): provisioned environments count against it.`,
    );
  }

  const apiThrottle = {
    rateLimit: integerBetween(node, 'apiRateLimit', 1, 1_000_000),
    burstLimit: integerBetween(node, 'apiBurstLimit', 1, 1_000_000),
  };

  return {
    stage,
    redisMode: redisMode as RedisMode,
    redisNodeType,
    redisReplicas,
    redisShards,
    logRetention: logRetentionDays as RetentionDays,
    alarmEmail: alarmEmail as string | undefined,
    accountConcurrencyLimit,
    reservedConcurrency: reserved,
    purchaseProvisionedConcurrency,
    apiThrottle,
    routeThrottles: routeThrottles(node),
    functionEnvironment: functionEnvironment(node),
  };
}
