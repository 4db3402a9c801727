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
  REDIS_COMMAND_TIMEOUT_MS: int(2_000),

  REDIS_URL: z.string().min(1).optional(),
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

  /** Local signing key. Deployed functions read JWT_SECRET_ARN instead; one of the two must be set. */
  JWT_SECRET: z.string().min(32).optional(),
  JWT_SECRET_ARN: z.string().optional(),
  JWT_ISSUER: z.string().default('flash-sale-inventory'),
  JWT_AUDIENCE: z.string().default('flash-sale-api'),
  JWT_TTL_SECONDS: int(30 * 60),
  BCRYPT_COST: z.coerce.number().int().min(4).max(15).default(10),

  MAX_BODY_BYTES: int(16 * 1024),

  /** `lock` (a pessimistic per-product lock) or `atomic` (the reserve script alone). */
  PURCHASE_STRATEGY: z.enum(['lock', 'atomic']).default('lock'),
  /** Lock lifetime: longer than one purchase's critical section. */
  LOCK_TTL_MS: int(LOCK_DEFAULTS.ttlMs),
  /** Total time a buyer waits for a busy lock before 409 LOCK_CONFLICT. */
  LOCK_WAIT_BUDGET_MS: int(LOCK_DEFAULTS.waitBudgetMs),
  /** An upper bound on attempts inside the budget (attempts = retries + 1). */
  LOCK_MAX_RETRIES: int(LOCK_DEFAULTS.maxAttempts),
  /** The first backoff; it doubles up to LOCK_RETRY_MAX_DELAY_MS, with jitter. */
  LOCK_RETRY_DELAY_MS: int(LOCK_DEFAULTS.retryDelayMs),
  LOCK_RETRY_MAX_DELAY_MS: int(LOCK_DEFAULTS.maxRetryDelayMs),

  /**
   * A hold older than this belongs to a request that can no longer be running (it must exceed the
   * Lambda timeout), so the reconciler may settle it.
   */
  HOLD_STALE_AFTER_MS: int(60_000),
  /** The local runtime's reconciliation interval (EventBridge runs it every minute in AWS). */
  RECONCILE_INTERVAL_MS: int(15_000),
  RECONCILE_ON_START: flag(true),
});

export type Config = z.infer<typeof configSchema>;

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
  const config = parsed.data;
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

/** What a function may touch: the route table's `uses` (shared/routes.ts) has this shape. */
export interface ResourceNeeds {
  readonly tables: Partial<Record<TableName, unknown>>;
  readonly redis: boolean;
  readonly jwt: boolean;
}

/** Every variable the needs call for that this configuration lacks. */
export function missingFor(config: Config, needs: ResourceNeeds): string[] {
  const missing: string[] = Object.keys(needs.tables)
    .map((table) => TABLE_ENV[table as TableName])
    .filter((variable) => !config[variable]);
  if (needs.redis && !config.REDIS_URL) missing.push('REDIS_URL');
  if (needs.redis && config.STAGE !== 'local' && !config.STORE_ID) missing.push('STORE_ID');
  if (needs.jwt && !config.JWT_SECRET && !config.JWT_SECRET_ARN) missing.push('JWT_SECRET_ARN');
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
