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
export { type OrderDeps, type OrderRequest, OrderService, type SettleOutcome } from './orders.ts';
export { dealKey, dealUsersKey, RedisDeals, type Reservation, reservationsKey } from './redis-deals.ts';
export {
  type DealProduct,
  type DealState,
  type OrderRecord,
  OrderRepository,
  type OrderStatus,
} from './repository.ts';
export { orderScripts } from './scripts.ts';
