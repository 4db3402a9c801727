export {
  adjustmentHoldId,
  auditIdOfHold,
  StockAdjustmentService,
  type StockAdjustmentView,
} from './adjustments.ts';
export {
  AdjustmentOutcomeUnknownError,
  CapChangedError,
  DealActiveError,
  IdempotencyKeyReusedError,
  InsufficientStockError,
  InvalidBundleError,
  PriceChangedError,
  ProductBusyError,
  ProductInDealError,
  ProductNotFoundError,
  PurchaseInProgressError,
  PurchaseLimitError,
  PurchaseNotRecordedError,
  PurchaseOutcomeUnknownError,
  StockTooSpreadError,
  StockUnavailableError,
  TooManyProductsError,
} from './errors.ts';
export { PurchaseHistory } from './history.ts';
export type {
  AuditTrail,
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
  type PassLog,
  type PassRecord,
  type ProductAudit,
  RECONCILER_ACTOR,
  Reconciler,
  type ReconcileSummary,
} from './reconciler.ts';
export { holdsKey, RedisPassLog, RedisStock, stockKey } from './redis-stock.ts';
export { stockScripts } from './scripts.ts';
