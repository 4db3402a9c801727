/**
 * The composition root: clients and services created once per process (at module scope of each
 * Lambda, once for the whole local runtime) and handed to the handlers. Secrets come from Secrets
 * Manager in AWS (read once at cold start, cached) and from the environment locally.
 */
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import type { Redis } from 'ioredis';
import { AccountService, PasswordHasher, TokenService } from './auth/index.ts';
import { type Config, config } from './config.ts';
import { createDocumentClient, ProductRepository, PurchaseRepository, UserRepository } from './db/index.ts';
import { HealthCheck } from './health.ts';
import { RedisLock } from './lock/index.ts';
import { logger } from './logger.ts';
import { DealService, OrderRepository, OrderService, RedisDeals } from './orders/index.ts';
import { createRedis } from './redis.ts';
import { ProductService, PurchaseService, Reconciler, RedisStock } from './stock/index.ts';

export interface Services {
  readonly config: Config;
  readonly redis: Redis;
  readonly accounts: AccountService;
  readonly tokens: TokenService;
  readonly products: ProductService;
  readonly purchases: PurchaseService;
  readonly purchaseHistory: PurchaseRepository;
  readonly reconciler: Reconciler;
  readonly orders: OrderService;
  readonly deals: DealService;
  readonly productTable: ProductRepository;
  readonly health: HealthCheck;
}

async function secretString(arn: string): Promise<string> {
  const value = await getSecret(arn, { maxAge: 300 });
  if (typeof value !== 'string' || value.length === 0) throw new Error(`Secret ${arn} is empty`);
  return value;
}

function signingKey(cfg: Config): () => Promise<Uint8Array> {
  if (cfg.JWT_SECRET) {
    const key = new TextEncoder().encode(cfg.JWT_SECRET);
    return async () => key;
  }
  const arn = cfg.JWT_SECRET_ARN;
  if (!arn) return async () => Promise.reject(new Error('Set JWT_SECRET (local) or JWT_SECRET_ARN (AWS)'));
  return async () => new TextEncoder().encode(await secretString(arn));
}

export async function buildServices(cfg: Config = config()): Promise<Services> {
  const redisPassword = cfg.REDIS_AUTH_SECRET_ARN ? await secretString(cfg.REDIS_AUTH_SECRET_ARN) : undefined;
  const redis = createRedis(cfg.REDIS_URL, redisPassword ? { password: redisPassword } : {});
  const doc = createDocumentClient(cfg);
  const users = new UserRepository(doc, cfg.USERS_TABLE);
  const productTable = new ProductRepository(doc, cfg.PRODUCTS_TABLE);
  const purchaseHistory = new PurchaseRepository(doc, cfg.PURCHASES_TABLE, cfg.PRODUCTS_TABLE);
  const stock = new RedisStock(redis);
  const locks = new RedisLock(redis);
  const redisDeals = new RedisDeals(redis);
  const orderTable = new OrderRepository(doc, cfg.ORDERS_TABLE, cfg.PRODUCTS_TABLE, cfg.PURCHASES_TABLE);
  // Orders and deals need each other (an order restores a lost product; a deal expires orders):
  // the order service reaches the deal service through this late-bound function.
  let deals: DealService | undefined;
  const orders = new OrderService({
    deals: redisDeals,
    orders: orderTable,
    restore: (productId) => (deals as DealService).restoreById(productId),
    log: logger,
  });
  deals = new DealService({
    deals: redisDeals,
    stock,
    products: productTable,
    orders: orderTable,
    orderService: orders,
    log: logger,
    holdStaleAfterMs: cfg.HOLD_STALE_AFTER_MS,
  });
  const dealService = deals;
  const tokens = new TokenService(signingKey(cfg), {
    issuer: cfg.JWT_ISSUER,
    audience: cfg.JWT_AUDIENCE,
    ttlSeconds: cfg.JWT_TTL_SECONDS,
  });
  return {
    config: cfg,
    redis,
    tokens,
    productTable,
    purchaseHistory,
    accounts: new AccountService(users, new PasswordHasher(cfg.BCRYPT_COST), tokens),
    products: new ProductService(productTable, stock, cfg.PURCHASE_STRATEGY),
    purchases: new PurchaseService({
      stock,
      locks,
      products: productTable,
      purchases: purchaseHistory,
      log: logger,
      restore: (product) => dealService.restore(product),
      lockOptions: {
        ttlMs: cfg.LOCK_TTL_MS,
        waitBudgetMs: cfg.LOCK_WAIT_BUDGET_MS,
        maxAttempts: cfg.LOCK_MAX_RETRIES + 1,
        retryDelayMs: cfg.LOCK_RETRY_DELAY_MS,
        maxRetryDelayMs: cfg.LOCK_RETRY_MAX_DELAY_MS,
      },
    }),
    health: new HealthCheck(redis, productTable),
    reconciler: new Reconciler({
      stock,
      products: productTable,
      purchases: purchaseHistory,
      log: logger,
      holdStaleAfterMs: cfg.HOLD_STALE_AFTER_MS,
      deals: dealService,
    }),
    orders,
    deals: dealService,
  };
}

let shared: Promise<Services> | undefined;

/** This process's services, built on first use (the Lambda cold start) and reused after. */
export function services(): Promise<Services> {
  shared ??= buildServices().catch((error) => {
    shared = undefined; // a failed cold start (Redis down) must not poison every later request
    throw error;
  });
  return shared;
}
