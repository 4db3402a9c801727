export {
  IdempotencyKeyReusedError,
  InsufficientStockError,
  ProductNotFoundError,
  PurchaseInProgressError,
  PurchaseNotRecordedError,
  PurchaseOutcomeUnknownError,
  StockUnavailableError,
} from './errors.ts';
export type { EventLog, ProductStore, PurchaseStore } from './ports.ts';
export { type NewProduct, ProductService, type ProductWithLiveStock, type StockView } from './products.ts';
export {
  type PurchaseDeps,
  type PurchaseRequest,
  PurchaseService,
  purchaseIdFor,
  requestFingerprint,
} from './purchases.ts';
export { type InventoryAudit, type ProductAudit, Reconciler, type ReconcileSummary } from './reconciler.ts';
export {
  holdsKey,
  type LiveStock,
  type PurchaseStrategy,
  RedisStock,
  type ReserveResult,
  type StockSeed,
  stockKey,
} from './redis-stock.ts';
export { stockScripts } from './scripts.ts';
