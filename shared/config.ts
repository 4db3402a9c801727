/**
 * Configuration: the environment parsed once with zod at cold start. Every default is the local
 * runtime's; the CDK stack sets the deployed values (table names, Redis endpoint, secret ARNs).
 */
import { z } from 'zod';

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
  USERS_TABLE: z.string().default('users'),
  PRODUCTS_TABLE: z.string().default('products'),
  PURCHASES_TABLE: z.string().default('purchases'),
  ORDERS_TABLE: z.string().default('orders'),

  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
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

  /** `lock` (the specification's pessimistic lock) or `atomic` (the Lua script alone). */
  PURCHASE_STRATEGY: z.enum(['lock', 'atomic']).default('lock'),
  /** Lock lifetime; the seed's LOCK_TIMEOUT_SECONDS. Longer than one purchase's critical section. */
  LOCK_TTL_MS: int(5_000),
  /** Total time a buyer waits for a busy lock before 409 LOCK_CONFLICT. */
  LOCK_WAIT_BUDGET_MS: int(5_000),
  /** The seed's LOCK_MAX_RETRIES: an upper bound on attempts inside the budget. */
  LOCK_MAX_RETRIES: int(1_000),
  /** The seed's LOCK_RETRY_DELAY: the first backoff; it doubles up to LOCK_RETRY_MAX_DELAY_MS, with jitter. */
  LOCK_RETRY_DELAY_MS: int(2),
  LOCK_RETRY_MAX_DELAY_MS: int(50),

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

export function parseConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid configuration: ${fields}`);
  }
  return parsed.data;
}

let cached: Config | undefined;

/** The configuration of this process, parsed on first use (cold start) and kept. */
export function config(): Config {
  cached ??= parseConfig();
  return cached;
}
