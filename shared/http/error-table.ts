/**
 * The one table that maps every error to the contract's status and `{detail, code}` body. A 5xx
 * body never carries internals; the log line carries the cause.
 */
import { UserNotFoundError } from '../admin/errors.ts';
import {
  ForbiddenError,
  InvalidCredentialsError,
  NotAuthenticatedError,
  UserExistsError,
} from '../auth/errors.ts';
import { CircuitOpenError } from '../breaker/index.ts';
import { InvalidCursorError } from '../db/pagination.ts';
import { DependencyUnavailableError } from '../health.ts';
import { TooManyRequestsError } from '../limits/errors.ts';
import { LockLostError, LockNotAcquiredError, LockQuorumUnavailableError } from '../lock/errors.ts';
import {
  DealAlreadyActiveError,
  DealNotActiveError,
  OrderExpiredError,
  OrderNotFoundError,
  OrderNotPendingError,
  OrderNotRecordedError,
  OrderOutcomeUnknownError,
} from '../orders/errors.ts';
import {
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
} from '../stock/errors.ts';
import { MetricsNotLocalError, MetricsUnavailableError } from '../wiring/local-metrics.ts';
import {
  InvalidJsonError,
  MethodNotAllowedError,
  PayloadTooLargeError,
  RouteNotFoundError,
  UnsupportedMediaTypeError,
  ValidationError,
} from './errors.ts';
import { isDependencyOutage } from './outage.ts';

export interface ErrorResponse {
  readonly status: number;
  readonly body: { detail: string; code: string } & Record<string, unknown>;
  readonly headers?: Record<string, string>;
}

type Rule = [new (...args: never[]) => Error, (error: never) => ErrorResponse];

const plain =
  (status: number, code: string, headers?: Record<string, string>) =>
  (error: Error): ErrorResponse => ({
    status,
    body: { detail: error.message, code },
    ...(headers && { headers }),
  });

/** The table: first matching class wins. Anything unlisted is a 500 with a generic body. */
export const errorTable: readonly Rule[] = [
  [
    ValidationError,
    (e: ValidationError) => ({
      status: 422,
      body: { detail: e.message, code: 'VALIDATION_ERROR', errors: e.issues },
    }),
  ],
  [
    InvalidCursorError,
    (e: InvalidCursorError) => ({
      status: 422,
      body: {
        detail: `Invalid request: query.cursor: ${e.message}`,
        code: 'VALIDATION_ERROR',
        errors: [{ field: 'query.cursor', message: e.message }],
      },
    }),
  ],
  [InvalidJsonError, plain(422, 'INVALID_JSON')],
  [UnsupportedMediaTypeError, plain(415, 'UNSUPPORTED_MEDIA_TYPE')],
  [PayloadTooLargeError, plain(413, 'PAYLOAD_TOO_LARGE')],
  [RouteNotFoundError, () => ({ status: 404, body: { detail: 'Not found', code: 'NOT_FOUND' } })],
  [
    MethodNotAllowedError,
    (e: MethodNotAllowedError) => ({
      status: 405,
      body: { detail: e.message, code: 'METHOD_NOT_ALLOWED' },
      headers: { allow: e.allowed.join(', ') },
    }),
  ],
  [NotAuthenticatedError, plain(401, 'NOT_AUTHENTICATED', { 'www-authenticate': 'Bearer' })],
  [InvalidCredentialsError, plain(401, 'INVALID_CREDENTIALS', { 'www-authenticate': 'Bearer' })],
  [ForbiddenError, plain(403, 'FORBIDDEN')],
  [
    TooManyRequestsError,
    (e: TooManyRequestsError) => ({
      status: 429,
      body: {
        detail: e.message,
        code: 'TOO_MANY_REQUESTS',
        limit: e.limit,
        retry_after: e.retryAfterSeconds,
      },
      headers: { 'retry-after': String(e.retryAfterSeconds) },
    }),
  ],
  [UserExistsError, plain(409, 'USER_EXISTS')],
  [ProductNotFoundError, plain(404, 'PRODUCT_NOT_FOUND')],
  [UserNotFoundError, plain(404, 'USER_NOT_FOUND')],
  [ProductInDealError, plain(409, 'DEAL_ACTIVE')],
  [ProductBusyError, plain(409, 'PRODUCT_BUSY', { 'retry-after': '1' })],
  [
    AdjustmentOutcomeUnknownError,
    () => ({
      status: 503,
      body: {
        detail:
          'The stock adjustment may or may not have been recorded; check the audit log before sending it again.',
        code: 'ADJUSTMENT_OUTCOME_UNKNOWN',
      },
      headers: { 'retry-after': '2' },
    }),
  ],
  [
    InsufficientStockError,
    (e: InsufficientStockError) => ({
      status: 400,
      body: {
        detail: e.message,
        code: 'INSUFFICIENT_STOCK',
        product_id: e.productId,
        available: e.available,
        shortages: e.shortages.map((s) => ({
          product_id: s.productId,
          requested: s.requested,
          available: s.available,
        })),
      },
    }),
  ],
  // Before LockNotAcquiredError, which it extends: too few Redlock nodes answer, an outage, not a busy product.
  [
    LockQuorumUnavailableError,
    () => ({
      status: 503,
      body: { detail: 'The product locks are unavailable; try again', code: 'SERVICE_UNAVAILABLE' },
      headers: { 'retry-after': '1' },
    }),
  ],
  [
    LockLostError,
    () => ({
      status: 409,
      body: {
        detail: 'The product lock expired before the purchase was written; try again',
        code: 'LOCK_CONFLICT',
      },
      headers: { 'retry-after': '1' },
    }),
  ],
  [
    LockNotAcquiredError,
    () => ({
      status: 409,
      body: { detail: 'The product is busy; try again', code: 'LOCK_CONFLICT' },
      headers: { 'retry-after': '1' },
    }),
  ],
  [IdempotencyKeyReusedError, plain(422, 'IDEMPOTENCY_KEY_REUSED')],
  [InvalidBundleError, plain(422, 'INVALID_BUNDLE')],
  [TooManyProductsError, plain(422, 'TOO_MANY_PRODUCTS')],
  [PurchaseInProgressError, plain(409, 'PURCHASE_IN_PROGRESS', { 'retry-after': '1' })],
  [PriceChangedError, plain(409, 'PRICE_CHANGED', { 'retry-after': '1' })],
  [CapChangedError, plain(409, 'CAP_CHANGED', { 'retry-after': '1' })],
  [StockTooSpreadError, plain(409, 'STOCK_TOO_SPREAD')],
  [
    PurchaseNotRecordedError,
    () => ({
      status: 503,
      body: {
        detail: 'The purchase could not be recorded; nothing was bought. Try again.',
        code: 'PURCHASE_NOT_RECORDED',
      },
      headers: { 'retry-after': '1' },
    }),
  ],
  [
    PurchaseOutcomeUnknownError,
    () => ({
      status: 503,
      body: {
        detail:
          'The purchase may or may not have been recorded; retry with the same Idempotency-Key to find out.',
        code: 'PURCHASE_OUTCOME_UNKNOWN',
      },
      headers: { 'retry-after': '2' },
    }),
  ],
  [
    StockUnavailableError,
    () => ({
      status: 503,
      body: { detail: 'Live stock is unavailable; try again', code: 'STOCK_UNAVAILABLE' },
      headers: { 'retry-after': '1' },
    }),
  ],
  [DealNotActiveError, plain(409, 'DEAL_NOT_ACTIVE')],
  [
    DealActiveError,
    (e: DealActiveError) => ({
      status: 409,
      body: { detail: e.message, code: 'DEAL_ACTIVE', product_ids: [...e.productIds] },
    }),
  ],
  [DealAlreadyActiveError, plain(409, 'DEAL_ALREADY_ACTIVE')],
  [
    PurchaseLimitError,
    (e: PurchaseLimitError) => ({
      status: 409,
      body: {
        detail: e.message,
        code: 'PURCHASE_LIMIT',
        product_id: e.productId,
        limit: e.limit,
        already: e.already,
      },
    }),
  ],
  [OrderNotFoundError, plain(404, 'ORDER_NOT_FOUND')],
  [OrderExpiredError, plain(409, 'ORDER_EXPIRED')],
  [
    OrderNotPendingError,
    (e: OrderNotPendingError) => ({
      status: 409,
      body: { detail: e.message, code: 'ORDER_NOT_PENDING', status: e.status },
    }),
  ],
  [
    OrderNotRecordedError,
    () => ({
      status: 503,
      body: {
        detail: 'The order could not be recorded; nothing was reserved. Try again.',
        code: 'ORDER_NOT_RECORDED',
      },
      headers: { 'retry-after': '1' },
    }),
  ],
  [
    OrderOutcomeUnknownError,
    () => ({
      status: 503,
      body: {
        detail: 'The order may or may not have been recorded; check GET /api/orders/me before retrying.',
        code: 'ORDER_OUTCOME_UNKNOWN',
      },
      headers: { 'retry-after': '2' },
    }),
  ],
  [MetricsNotLocalError, plain(501, 'METRICS_IN_CLOUDWATCH')],
  [MetricsUnavailableError, plain(503, 'SERVICE_UNAVAILABLE', { 'retry-after': '1' })],
  [
    // The breaker is open: the answer an outage would give, at once, with the time it stays open.
    CircuitOpenError,
    (e: CircuitOpenError) => ({
      status: 503,
      body: { detail: 'A backing service is unavailable; try again', code: 'SERVICE_UNAVAILABLE' },
      headers: { 'retry-after': String(Math.max(1, Math.ceil(e.retryAfterMs / 1000))) },
    }),
  ],
  [
    DependencyUnavailableError,
    (e: DependencyUnavailableError) => ({
      status: 503,
      body: { detail: e.message, code: 'SERVICE_UNAVAILABLE', status: 'unavailable', ...e.report },
      headers: { 'retry-after': '1' },
    }),
  ],
];

export function toErrorResponse(error: unknown): ErrorResponse {
  if (error instanceof Error) {
    for (const [type, render] of errorTable) if (error instanceof type) return render(error as never);
    if (isDependencyOutage(error)) {
      return {
        status: 503,
        body: { detail: 'A backing service is unavailable; try again', code: 'SERVICE_UNAVAILABLE' },
        headers: { 'retry-after': '1' },
      };
    }
  }
  return { status: 500, body: { detail: 'Internal server error', code: 'INTERNAL_ERROR' } };
}
