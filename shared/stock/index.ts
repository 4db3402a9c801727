export {
  IdempotencyKeyReusedError,
  InsufficientStockError,
  InvalidBundleError,
  ProductNotFoundError,
  PurchaseInProgressError,
  PurchaseNotRecordedError,
  PurchaseOutcomeUnknownError,
  StockUnavailableError,
  TooManyProductsError,
} from './errors.ts';
export type { EventLog, ProductStore, PurchaseStore } from './ports.ts';
export { type NewProduct, ProductService, type ProductWithLiveStock, type StockView } from './products.ts';
export {
  type PurchaseDeps,
  type PurchaseRequest,
  PurchaseService,
  purchaseIdFor,
  type RequestedItem,
  requestFingerprint,
} from './purchases.ts';
export {
  type DealReconcilePort,
  type InventoryAudit,
  type ProductAudit,
  Reconciler,
  type ReconcileSummary,
} from './reconciler.ts';
export {
  type Component,
  holdsKey,
  type LiveStock,
  type PurchaseStrategy,
  RedisStock,
  type ReserveAllResult,
  type ReserveResult,
  reservationsKey,
  type Shortage,
  type StockLine,
  type StockSeed,
  stockKey,
} from './redis-stock.ts';
export { stockScripts } from './scripts.ts';
