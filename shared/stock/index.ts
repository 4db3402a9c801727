export {
  DealActiveError,
  IdempotencyKeyReusedError,
  InsufficientStockError,
  InvalidBundleError,
  PriceChangedError,
  ProductNotFoundError,
  PurchaseInProgressError,
  PurchaseNotRecordedError,
  PurchaseOutcomeUnknownError,
  StockUnavailableError,
  TooManyProductsError,
} from './errors.ts';
export { PurchaseHistory } from './history.ts';
export type {
  EventLog,
  Hold,
  LiveStock,
  LiveStockStore,
  ProductStore,
  PurchaseStore,
  RecordOutcome,
  StockSeed,
} from './ports.ts';
export { type NewProduct, ProductService, type ProductWithLiveStock, type StockView } from './products.ts';
export { purchaseIdFor, requestFingerprint } from './purchase-ids.ts';
export { type PurchaseDeps, type PurchaseRequest, PurchaseService, type RequestedItem } from './purchases.ts';
export {
  type DealReconcilePort,
  type InFlightUnits,
  type InventoryAudit,
  type ProductAudit,
  Reconciler,
  type ReconcileSummary,
} from './reconciler.ts';
export { holdsKey, RedisStock, stockKey } from './redis-stock.ts';
export { stockScripts } from './scripts.ts';
