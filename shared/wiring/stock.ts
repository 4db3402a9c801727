/** The stock capability's providers: products, purchases, the reconciler and the audit. */
import { logger } from '../logger.ts';
import { ProductService } from '../stock/products.ts';
import { PurchaseService } from '../stock/purchases.ts';
import { Reconciler } from '../stock/reconciler.ts';
import { productTable, purchaseTable } from './dynamodb.ts';
import { dealRestore, dealService } from './hotdeal.ts';
import { provider } from './provider.ts';
import { liveDeals, liveStock, productLocks, redisClient } from './redis.ts';
import { settings } from './settings.ts';

export const productService = provider(
  'products',
  {},
  [productTable, liveStock],
  async () =>
    new ProductService(await productTable.get(), await liveStock.get(), settings().PURCHASE_STRATEGY),
);

/** Purchases restore a product the live store lost deal-aware, which reads the product's orders. */
export const purchaseService = provider(
  'purchases',
  {},
  [liveStock, productTable, purchaseTable, dealRestore],
  async () => {
    const cfg = settings();
    const restore = await dealRestore.get();
    return new PurchaseService({
      stock: await liveStock.get(),
      locks: await productLocks.get(),
      products: await productTable.get(),
      purchases: await purchaseTable.get(),
      log: logger,
      restore: (product) => restore.restore(product),
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

/** The audit alone: it reads the live store, products and purchases, and counts hot-deal reservations. */
export const inventoryAudit = provider(
  'inventory-audit',
  {},
  [liveStock, productTable, purchaseTable],
  async () =>
    new Reconciler({
      stock: await liveStock.get(),
      products: await productTable.get(),
      purchases: await purchaseTable.get(),
      inFlight: await liveDeals.get(),
      log: logger,
      holdStaleAfterMs: settings().HOLD_STALE_AFTER_MS,
    }),
);

/** The scheduled pass: restores, settles holds and reservations, repairs drift; and the audit. */
export const reconciler = provider(
  'reconciler',
  {},
  [liveStock, productTable, purchaseTable, dealService],
  async () =>
    new Reconciler({
      stock: await liveStock.get(),
      products: await productTable.get(),
      purchases: await purchaseTable.get(),
      deals: await dealService.get(),
      inFlight: await liveDeals.get(),
      log: logger,
      holdStaleAfterMs: settings().HOLD_STALE_AFTER_MS,
    }),
);
