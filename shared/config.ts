/**
 * Configuration: the environment parsed once with zod at cold start.
 *
 * Tuning values (lock timings, bcrypt cost, ...) have one default each, here. Bindings (table
 * names, the Redis endpoint, the signing key) have defaults only in the local stage: a deployed
 * function whose binding is missing must stop at its cold start with a message naming the variable
 * (`requireResources`), never silently talk to a table called `users` or to 127.0.0.1.
 */
import * as z from 'zod';
import { LOCK_DEFAULTS } from './lock/defaults.ts';

const int = (fallback: number) => z.coerce.number().int().nonnegative().default(fallback);
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** `host:port,host:port,...` (spaces allowed); empty or unset → an empty list. */
const hostPortList = z
  .string()
  .default('')
  .transform((value, ctx): HostPort[] => {
    const entries = value
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean);
    const nodes: HostPort[] = [];
    for (const entry of entries) {
      const match = /^([^\s:]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(entry);
      const port = Number(match?.[2]);
      if (!match?.[1] || !(port >= 1 && port <= 65_535)) {
        ctx.addIssue({ code: 'custom', message: `"${entry}" is not host:port` });
        continue;
      }
      nodes.push({ host: match[1].replace(/^\[|\]$/g, ''), port });
    }
    return nodes;
  });

const flag = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1');

export const configSchema = z.object({
  STAGE: z.string().default('local'),
  LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),

  AWS_REGION: z.string().default('us-east-1'),
  /** Any DynamoDB endpoint: DynamoDB Local, LocalStack. Unset in AWS. */
  DYNAMODB_ENDPOINT: z.url().optional(),
  USERS_TABLE: z.string().min(1).optional(),
  PRODUCTS_TABLE: z.string().min(1).optional(),
  PURCHASES_TABLE: z.string().min(1).optional(),
  ORDERS_TABLE: z.string().min(1).optional(),
  AUDIT_TABLE: z.string().min(1).optional(),

  /** Per-call timeouts, well below the functions' 10 s: an outage answers 503, never a hang. */
  DYNAMODB_CONNECT_TIMEOUT_MS: int(1_000),
  DYNAMODB_REQUEST_TIMEOUT_MS: int(3_000),

  /**
   * Local only: put DynamoDB's per-item limits in front of DynamoDB Local (shared/db/emulated-limits.ts
   * has each number's AWS source). `npm start` then runs the emulating proxy and points every function
   * at it. DYNAMODB_ITEM_WCU: write units one item takes per second (DynamoDB: 1,000; a transactional
   * write of an item up to 1 KB costs 2). DYNAMODB_EMULATED_LATENCY_MS: median latency added to each
   * item request (transactions twice), for DynamoDB's single-digit-millisecond answers.
   */
  DYNAMODB_EMULATE_LIMITS: flag(false),
  DYNAMODB_ITEM_WCU: z.coerce.number().int().positive().default(1_000),
  DYNAMODB_EMULATED_LATENCY_MS: z.coerce.number().min(0).max(1_000).default(4),
  REDIS_COMMAND_TIMEOUT_MS: int(2_000),
  /**
   * Connections the live stock (shared/stock RedisStock) spreads its commands over, on a standalone
   * Redis. 1 in Lambda (one invocation at a time has nothing to overlap); 2 for a process serving
   * many buyers at once, whose single auto-pipelined connection leaves Node and Redis each about half
   * idle (docs/performance.md, "reserve against EVALSHA"). Ignored on Redis Cluster.
   */
  REDIS_CONNECTIONS: z.coerce.number().int().min(1).max(8).default(1),

  REDIS_URL: z.string().min(1).optional(),
  /**
   * Redis Cluster (ElastiCache cluster mode or Serverless): seed nodes, `host:port,...` (one
   * configuration endpoint is enough). Set, it replaces REDIS_URL and the client speaks the cluster
   * protocol: one slot per product, no multi-product script or pipeline.
   */
  REDIS_CLUSTER_NODES: hostPortList,
  /** TLS to Redis for the cluster client (a REDIS_URL says it with `rediss://`). */
  REDIS_TLS: flag(false),
  /**
   * Redlock: the product locks over these independent Redis nodes (`host:port,...`, an odd number,
   * 3 or 5), granted by a majority. Empty: the single-node lock on the main Redis.
   */
  REDLOCK_NODES: hostPortList,
  /** Clock drift allowed per ms of lock TTL; the grant's validity loses TTL × factor + 2 ms. */
  REDLOCK_DRIFT_FACTOR: z.coerce.number().min(0).max(0.5).default(0.01),
  /** How long one Redlock node may take to answer before it counts as failed. */
  REDLOCK_NODE_TIMEOUT_MS: z.coerce.number().int().positive().default(50),
  /**
   * The store these tables belong to, the namespace of its Redis keys. Deployed: the products
   * table's name (unique per stack, new when tables are recreated). Locally: a random id kept in
   * the products table, which `npm start` reads and passes on. Empty: no namespace.
   */
  STORE_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]*$/)
    .optional(),
  /** ElastiCache's AUTH token lives in Secrets Manager; the function reads it at cold start. */
  REDIS_AUTH_SECRET_ARN: z.string().optional(),

  /**
   * The token keys (shared/auth/keys.ts). The signing key, a private ES256 JWK: JWT_SIGNING_KEY
   * locally, the secret JWT_SIGNING_KEY_ARN deployed (the login function's alone). The verification
   * keys, a JSON array of public JWKs: JWT_VERIFY_KEYS locally (by default the signing key's public
   * half), the secret JWT_VERIFY_KEYS_ARN deployed.
   */
  JWT_SIGNING_KEY: z.string().min(1).optional(),
  JWT_SIGNING_KEY_ARN: z.string().optional(),
  JWT_VERIFY_KEYS: z.string().min(1).optional(),
  JWT_VERIFY_KEYS_ARN: z.string().optional(),
  JWT_ISSUER: z.string().default('flash-sale-inventory'),
  JWT_AUDIENCE: z.string().default('flash-sale-api'),
  JWT_TTL_SECONDS: int(30 * 60),
  /** A token issued longer ago than this is refused whatever its `exp` (a stolen token ages out). */
  JWT_MAX_AGE_SECONDS: int(60 * 60),
  BCRYPT_COST: z.coerce.number().int().min(4).max(15).default(10),

  /**
   * Abuse limits (shared/limits), sliding windows in Redis; 0 turns one off. Failed logins per
   * username and per client address; successful logins never count against an address.
   */
  LOGIN_FAILURES_PER_USERNAME: int(20),
  LOGIN_FAILURES_PER_ADDRESS: int(100),
  LOGIN_FAILURE_WINDOW_SECONDS: int(15 * 60),
  /**
   * Sign-ups per client address. Off (0) by default in the local stage, where load tests sign up
   * hundreds of users from 127.0.0.1; 20 an hour deployed unless configured.
   */
  SIGNUPS_PER_ADDRESS: z.coerce.number().int().nonnegative().optional(),
  SIGNUP_WINDOW_SECONDS: int(60 * 60),
  /** Purchases one user may have in flight at once; one more is 429. */
  PURCHASES_IN_FLIGHT_PER_USER: int(2),
  /** How long an in-flight purchase's slot lives if its request dies: above the functions' 10 s timeout. */
  PURCHASE_IN_FLIGHT_TTL_MS: int(30_000),
  /**
   * One in this many sold-out refusals writes its `purchase` log line (marked `sampled_one_in`);
   * every refusal is still counted in the SoldOut metric. 1 writes every one, 0 none.
   */
  SOLD_OUT_LOG_EVERY: int(100),
  /**
   * One in this many 429s of each limit writes its `limit reached` line (marked `sampled_one_in`): a
   * client hammering a limit would otherwise write a line per request. Every one is counted in the
   * LimitReached metric. 1 writes every one, 0 none.
   */
  LIMIT_LOG_EVERY: int(100),
  /** A hot deal's `max_per_user` when its start names none (0: no cap). */
  HOTDEAL_DEFAULT_MAX_PER_USER: int(0),

  /** How long a container reuses its Scan of the catalogue for listings (one Scan per interval). */
  PRODUCT_LIST_CACHE_MS: int(2_000),

  /** Browser origins allowed to call the API (comma-separated, exact); none by default. */
  CORS_ALLOWED_ORIGINS: z
    .string()
    .default('')
    .transform((list) =>
      list
        .split(',')
        .map((o) => o.trim())
        .filter((o) => o.length > 0),
    )
    .pipe(z.array(z.url())),

  MAX_BODY_BYTES: int(16 * 1024),

  /** `lock` (a pessimistic per-product lock) or `atomic` (the reserve script alone). */
  PURCHASE_STRATEGY: z.enum(['lock', 'atomic']).default('lock'),
  /** Lock lifetime: longer than one purchase's critical section. */
  LOCK_TTL_MS: int(LOCK_DEFAULTS.ttlMs),
  /** Total time a buyer waits for a busy lock before 409 LOCK_CONFLICT. */
  LOCK_WAIT_BUDGET_MS: int(LOCK_DEFAULTS.waitBudgetMs),
  /** An upper bound on attempts inside the budget (attempts = retries + 1). */
  LOCK_MAX_RETRIES: int(LOCK_DEFAULTS.maxAttempts),
  /**
   * A lock waiter blocks until woken, or at most a quarter of its place's lifetime (10 × the max
   * delay, at least 1 s; never below the first delay), then asks again: no polling backoff.
   */
  LOCK_RETRY_DELAY_MS: int(LOCK_DEFAULTS.retryDelayMs),
  LOCK_RETRY_MAX_DELAY_MS: int(LOCK_DEFAULTS.maxRetryDelayMs),

  /**
   * A hold older than this belongs to a request that can no longer be running (it must exceed the
   * Lambda timeout), so the reconciler may settle it.
   */
  HOLD_STALE_AFTER_MS: int(60_000),
  /** Redis or DynamoDB outages in a row that open its circuit breaker (then 503 at once). */
  BREAKER_FAILURE_THRESHOLD: z.coerce.number().int().min(1).default(5),
  /** How long an open breaker refuses calls before one probe may go through (the Retry-After). */
  BREAKER_OPEN_MS: int(5_000),

  /**
   * How long a container serves the product list and a product's view from memory. Never the
   * purchase path, which reads Redis itself. 0 turns the cache off.
   */
  PRODUCT_READ_CACHE_MS: int(1_000),

  /** The local runtime's reconciliation interval (EventBridge runs it every minute in AWS). */
  RECONCILE_INTERVAL_MS: int(15_000),
  RECONCILE_ON_START: flag(true),
});

export type Config = Omit<z.infer<typeof configSchema>, 'SIGNUPS_PER_ADDRESS'> & {
  readonly SIGNUPS_PER_ADDRESS: number;
};

/** The local stage's bindings: what `npm start` and the tests create. Nowhere else has defaults. */
const LOCAL_BINDINGS = {
  USERS_TABLE: 'users',
  PRODUCTS_TABLE: 'products',
  PURCHASES_TABLE: 'purchases',
  ORDERS_TABLE: 'orders',
  AUDIT_TABLE: 'audit',
  REDIS_URL: 'redis://127.0.0.1:6379',
} as const;

export type TableName = 'users' | 'products' | 'purchases' | 'orders' | 'audit';

/** The environment variable each table's name travels in (the CDK stack sets them from `uses`). */
export const TABLE_ENV = {
  users: 'USERS_TABLE',
  products: 'PRODUCTS_TABLE',
  purchases: 'PURCHASES_TABLE',
  orders: 'ORDERS_TABLE',
  audit: 'AUDIT_TABLE',
} as const satisfies Record<TableName, keyof Config>;

export function parseConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid configuration: ${fields}`);
  }
  const config = {
    ...parsed.data,
    SIGNUPS_PER_ADDRESS: parsed.data.SIGNUPS_PER_ADDRESS ?? (parsed.data.STAGE === 'local' ? 0 : 20),
  };
  if (config.STAGE !== 'local') return config;
  const filled: Record<string, unknown> = { ...config };
  for (const [name, value] of Object.entries(LOCAL_BINDINGS)) filled[name] ??= value;
  return filled as Config;
}

/** A binding the function needs is not configured: the cold start stops here. */
export class MissingConfigurationError extends Error {
  override readonly name = 'MissingConfigurationError';
  constructor(
    readonly variables: readonly string[],
    readonly stage: string,
    readonly needer: string,
  ) {
    super(
      `${needer} needs ${variables.join(', ')}, which ${variables.length === 1 ? 'is' : 'are'} not set (stage ${stage}); ` +
        'a deployed function gets it from the CDK stack through its route in shared/routes.ts',
    );
  }
}

/**
 * Which token key a function holds: `sign` the private key (login alone), `verify` the public keys
 * (every authenticated route), or none.
 */
export type JwtUse = 'sign' | 'verify' | false;

/** What a function may touch: the route table's `uses` (shared/routes.ts) has this shape. */
export interface ResourceNeeds {
  readonly tables: Partial<Record<TableName, unknown>>;
  readonly redis: boolean;
  readonly jwt: JwtUse;
}

/** Every variable the needs call for that this configuration lacks. */
export function missingFor(config: Config, needs: ResourceNeeds): string[] {
  const missing: string[] = Object.keys(needs.tables)
    .map((table) => TABLE_ENV[table as TableName])
    .filter((variable) => !config[variable]);
  if (needs.redis && !config.REDIS_URL && config.REDIS_CLUSTER_NODES.length === 0) missing.push('REDIS_URL');
  if (needs.redis && config.STAGE !== 'local' && !config.STORE_ID) missing.push('STORE_ID');
  if (needs.jwt === 'sign' && !config.JWT_SIGNING_KEY && !config.JWT_SIGNING_KEY_ARN)
    missing.push('JWT_SIGNING_KEY_ARN');
  // Locally the signing key's public half verifies too; deployed, a verifier never sees the signing key.
  const localVerify = config.STAGE === 'local' && config.JWT_SIGNING_KEY;
  if (needs.jwt === 'verify' && !config.JWT_VERIFY_KEYS && !config.JWT_VERIFY_KEYS_ARN && !localVerify)
    missing.push('JWT_VERIFY_KEYS_ARN');
  return missing;
}

/** Fail closed: throws naming every missing binding of `needer` (a function, a script). */
export function requireResources(config: Config, needs: ResourceNeeds, needer: string): void {
  const missing = missingFor(config, needs);
  if (missing.length > 0) throw new MissingConfigurationError(missing, config.STAGE, needer);
}

/** A binding's value; throws MissingConfigurationError when it is not set. */
export function required<K extends keyof Config>(config: Config, name: K): NonNullable<Config[K]> {
  const value = config[name];
  if (value === undefined || value === null || value === '')
    throw new MissingConfigurationError([name], config.STAGE, 'this function');
  return value as NonNullable<Config[K]>;
}

let cached: Config | undefined;

/** The configuration of this process, parsed on first use (cold start) and kept. */
export function config(): Config {
  cached ??= parseConfig();
  return cached;
}
