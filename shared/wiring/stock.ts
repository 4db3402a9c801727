/** The stock capability's providers: products, purchases, the reconciler and the audit. */
import { type Lock, LockNotAcquiredError } from '../lock/index.ts';
import { logger } from '../logger.ts';
import { StockAdjustmentService } from '../stock/adjustments.ts';
import { ProductService, type ProductWithLiveStock, type StockView } from '../stock/products.ts';
import { PurchaseService } from '../stock/purchases.ts';
import { Reconciler } from '../stock/reconciler.ts';
import { RedisPassLog } from '../stock/redis-stock.ts';
import { auditTable, productTable, purchaseTable } from './dynamodb.ts';
import { dealRestore, dealService } from './hotdeal.ts';
import { purchaseGuard } from './limits.ts';
import { saleLog } from './metrics.ts';
import { provider } from './provider.ts';
import { ReadCache } from './read-cache.ts';
import { liveDeals, liveStock, productLocks, redisClient } from './redis.ts';
import { namespace, settings } from './settings.ts';

export type ProductReads = Pick<ProductService, 'list' | 'get' | 'stockOf'>;

/** Reading products with their live stock. */
export const productService = provider(
  'products',
  {},
  [productTable, liveStock],
  async () =>
    new ProductService(
      await productTable.get(),
      await liveStock.get(),
      settings().PURCHASE_STRATEGY,
      undefined,
      settings().PRODUCT_LIST_CACHE_MS,
    ),
);

/** The product reads the crowd hammers, served from memory for PRODUCT_READ_CACHE_MS (0: not cached). */
export const productReads = provider('product-reads', {}, [productService], async () => {
  const products = await productService.get();
  const ttlMs = settings().PRODUCT_READ_CACHE_MS;
  if (ttlMs === 0) return products as ProductReads;
  const lists = new ReadCache<ProductWithLiveStock[]>(ttlMs);
  const views = new ReadCache<ProductWithLiveStock>(ttlMs);
  const stocks = new ReadCache<StockView>(ttlMs);
  return {
    list: (skip, limit) => lists.get(`${skip}:${limit}`, () => products.list(skip, limit)),
    get: (id) => views.get(String(id), () => products.get(id)),
    stockOf: (id) => stocks.get(String(id), () => products.stockOf(id)),
  } satisfies ProductReads;
});

/** Creating, changing and deleting products: each change writes its audit row. */
export const productAdmin = provider(
  'product-admin',
  {},
  [productTable, liveStock, auditTable],
  async () =>
    new ProductService(
      await productTable.get(),
      await liveStock.get(),
      settings().PURCHASE_STRATEGY,
      () => new Date(),
      settings().PRODUCT_LIST_CACHE_MS,
      logger,
    ),
);

/** Stock adjustments: a product the live store lost is restored first, deal-aware, as a purchase does. */
export const stockAdjustments = provider(
  'stock-adjustments',
  {},
  [productTable, liveStock, dealRestore, auditTable],
  async () => {
    const restore = await dealRestore.get();
    return new StockAdjustmentService({
      products: await productTable.get(),
      stock: await liveStock.get(),
      restore: (product) => restore.restore(product),
      log: logger,
    });
  },
);

/** The last reconciliation pass, kept in Redis. */
export const passLog = provider(
  'reconcile-passes',
  {},
  [redisClient],
  async () => new RedisPassLog(await redisClient.get(), namespace()),
);

/** Purchases restore a product the live store lost deal-aware, which reads the product's orders. */
export const purchaseService = provider(
  'purchases',
  {},
  [liveStock, productTable, purchaseTable, dealRestore, purchaseGuard],
  async () => {
    const cfg = settings();
    const restore = await dealRestore.get();
    const deals = await liveDeals.get();
    return new PurchaseService({
      stock: await liveStock.get(),
      locks: await productLocks.get(),
      products: await productTable.get(),
      purchases: await purchaseTable.get(),
      log: saleLog,
      restore: (product) => restore.restore(product),
      gate: await purchaseGuard.get(),
      claimTtlMs: cfg.HOLD_STALE_AFTER_MS,
      soldOutLogEvery: cfg.SOLD_OUT_LOG_EVERY,
      inFlightKeys: (productId) => deals.inFlightKeys(productId),
      // One durable write's timeout and a second for the rest (commit, release, the answer).
      finishReserveMs: cfg.DYNAMODB_REQUEST_TIMEOUT_MS + 1_000,
      lockOptions: {
        ttlMs: cfg.LOCK_TTL_MS,
        waitBudgetMs: cfg.LOCK_WAIT_BUDGET_MS,
        maxAttempts: cfg.LOCK_MAX_RETRIES + 1,
        retryDelayMs: cfg.LOCK_RETRY_DELAY_MS,
        maxRetryDelayMs: cfg.LOCK_RETRY_MAX_DELAY_MS,
      },
    });
  },
);

/**
 * The audit alone: it reads the live store, products and purchases, counts hot-deal reservations,
 * asks the audit log whether an adjustment in flight landed, and reports the last pass.
 */
export const inventoryAudit = provider(
  'inventory-audit',
  {},
  [liveStock, productTable, purchaseTable, auditTable, passLog],
  async () => {
    const audit = await auditTable.get();
    return new Reconciler({
      stock: await liveStock.get(),
      products: await productTable.get(),
      purchases: await purchaseTable.get(),
      inFlight: await liveDeals.get(),
      log: saleLog,
      holdStaleAfterMs: settings().HOLD_STALE_AFTER_MS,
      audit: { has: (id) => audit.has(id) },
      passes: await passLog.get(),
    });
  },
);

const RECONCILE_LEASE = 'reconciler';
/** Longer than a pass over a large catalogue; a dead pass holds it this long at most. */
const RECONCILE_LEASE_TTL_MS = 5 * 60_000;
/** A pass that finds another running waits for it (then finds little to do), up to 30 s. */
const RECONCILE_LEASE_WAIT = {
  ttlMs: RECONCILE_LEASE_TTL_MS,
  waitBudgetMs: 30_000,
  maxAttempts: 10_000,
  retryDelayMs: 50,
  maxRetryDelayMs: 500,
};

/** The scheduled pass: restores, settles holds and reservations, repairs drift; and the audit. */
export const reconciler = provider(
  'reconciler',
  {},
  [liveStock, productTable, purchaseTable, dealService, auditTable, passLog],
  async () => {
    const locks = await productLocks.get();
    let held: Lock | undefined;
    return new Reconciler({
      audit: await auditTable.get(),
      passes: await passLog.get(),
      stock: await liveStock.get(),
      products: await productTable.get(),
      purchases: await purchaseTable.get(),
      deals: await dealService.get(),
      inFlight: await liveDeals.get(),
      fences: locks,
      log: saleLog,
      holdStaleAfterMs: settings().HOLD_STALE_AFTER_MS,
      // One pass at a time across every function and `npm run reconcile`; a pass that dies
      // mid-way frees the lease after its TTL.
      lease: {
        acquire: async () => {
          held = await locks.acquire(RECONCILE_LEASE, RECONCILE_LEASE_WAIT).catch((error) => {
            if (error instanceof LockNotAcquiredError) return undefined;
            throw error;
          });
          return held !== undefined;
        },
        release: async () => {
          if (held) await locks.release(held);
          held = undefined;
        },
      },
    });
  },
);
