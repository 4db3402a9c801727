/** Domain errors of the stock capability. They carry their facts and know nothing of HTTP. */

export class ProductNotFoundError extends Error {
  override readonly name = 'ProductNotFoundError';
  constructor(readonly productId: number) {
    super(`Product ${productId} does not exist`);
  }
}

export class InsufficientStockError extends Error {
  override readonly name = 'InsufficientStockError';
  constructor(
    readonly productId: number,
    readonly requested: number,
    readonly available: number,
  ) {
    super(`Product ${productId} has ${available} left; ${requested} requested`);
  }
}

/** The same Idempotency-Key arrived with a different request body. */
export class IdempotencyKeyReusedError extends Error {
  override readonly name = 'IdempotencyKeyReusedError';
  constructor(readonly purchaseId: string) {
    super('This Idempotency-Key was already used for a different request');
  }
}

/** The first request with this Idempotency-Key is still being processed. */
export class PurchaseInProgressError extends Error {
  override readonly name = 'PurchaseInProgressError';
  constructor(readonly purchaseId: string) {
    super('A request with this Idempotency-Key is still being processed');
  }
}

/**
 * The durable write's outcome is unknown (DynamoDB did not answer). The hold stays for the
 * reconciler, which commits it if the purchase exists and releases it otherwise.
 */
export class PurchaseOutcomeUnknownError extends Error {
  override readonly name = 'PurchaseOutcomeUnknownError';
  constructor(
    readonly purchaseId: string,
    options?: ErrorOptions,
  ) {
    super(`Purchase ${purchaseId} may or may not have been recorded`, options);
  }
}

/** Redis could not take the product's live stock; the product was not created. */
export class StockUnavailableError extends Error {
  override readonly name = 'StockUnavailableError';
  constructor(
    readonly productId: number,
    options?: ErrorOptions,
  ) {
    super(`Live stock for product ${productId} could not be written`, options);
  }
}

/** DynamoDB refused or failed the durable write; the hold was released, nothing was bought. */
export class PurchaseNotRecordedError extends Error {
  override readonly name = 'PurchaseNotRecordedError';
  constructor(
    readonly purchaseId: string,
    options?: ErrorOptions,
  ) {
    super(`Purchase ${purchaseId} was not recorded`, options);
  }
}
