/** Domain errors of the hot deals and their orders. They carry their facts and know nothing of HTTP. */
import type { OrderStatus } from '../model.ts';

/** No deal is open for the product (never started, ended, or past its ends_at). */
export class DealNotActiveError extends Error {
  override readonly name = 'DealNotActiveError';
  constructor(readonly productId: number) {
    super(`No hot deal is open for product ${productId}`);
  }
}

export class DealAlreadyActiveError extends Error {
  override readonly name = 'DealAlreadyActiveError';
  constructor(readonly productId: number) {
    super(`A hot deal is already open for product ${productId}`);
  }
}

/** The buyer's pending and confirmed units plus this order would pass the deal's max_per_user. */
export { PurchaseLimitError } from '../stock/errors.ts';

/** No such order, or not the caller's (the same answer, so ids cannot be probed). */
export class OrderNotFoundError extends Error {
  override readonly name = 'OrderNotFoundError';
  constructor(readonly orderId: string) {
    super(`Order ${orderId} does not exist`);
  }
}

/** The reservation ran out before the confirm arrived; its units are back on sale. */
export class OrderExpiredError extends Error {
  override readonly name = 'OrderExpiredError';
  constructor(readonly orderId: string) {
    super(`Order ${orderId} expired before it was confirmed; its units were released`);
  }
}

/** The order is no longer PENDING: it was confirmed, cancelled or expired first. */
export class OrderNotPendingError extends Error {
  override readonly name = 'OrderNotPendingError';
  constructor(
    readonly orderId: string,
    readonly status: OrderStatus,
  ) {
    super(`Order ${orderId} is ${status}, not PENDING`);
  }
}

/** The PENDING order could not be written; its reservation was released, nothing is reserved. */
export class OrderNotRecordedError extends Error {
  override readonly name = 'OrderNotRecordedError';
  constructor(
    readonly orderId: string,
    options?: ErrorOptions,
  ) {
    super(`Order ${orderId} was not recorded`, options);
  }
}

/** DynamoDB did not say whether the order was written; the reconciler settles its reservation. */
export class OrderOutcomeUnknownError extends Error {
  override readonly name = 'OrderOutcomeUnknownError';
  constructor(
    readonly orderId: string,
    options?: ErrorOptions,
  ) {
    super(`Order ${orderId} may or may not have been recorded`, options);
  }
}
