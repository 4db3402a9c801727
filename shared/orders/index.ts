export {
  DEFAULT_RESERVATION_TTL_SECONDS,
  type DealEndSummary,
  DealService,
  type DealStart,
  type DealView,
} from './deals.ts';
export {
  DealAlreadyActiveError,
  DealNotActiveError,
  OrderExpiredError,
  OrderNotFoundError,
  OrderNotPendingError,
  OrderNotRecordedError,
  OrderOutcomeUnknownError,
  PurchaseLimitError,
} from './errors.ts';
export { OrderHistory } from './history.ts';
export { type OrderDeps, type OrderRequest, OrderService, type SettleOutcome } from './orders.ts';
export type {
  ConfirmOutcome,
  DealProductStore,
  LiveDeals,
  OrderStore,
  Reservation,
} from './ports.ts';
export { dealKey, dealUsersKey, RedisDeals, reservationsKey } from './redis-deals.ts';
export { DealRestore } from './restore.ts';
export { orderScripts } from './scripts.ts';
