/** Domain errors of the stock capability. They carry their facts and know nothing of HTTP. */

export class ProductNotFoundError extends Error {
  override readonly name = 'ProductNotFoundError';
  constructor(readonly productId: number) {
    super(`Product ${productId} does not exist`);
  }
}

export class InsufficientStockError extends Error {
  override readonly name = 'InsufficientStockError';
  /** Every product that falls short (a cart or bundle may have several); the first is also spread out. */
  readonly shortages: readonly { productId: number; requested: number; available: number }[];
  constructor(
    readonly productId: number,
    readonly requested: number,
    readonly available: number,
    more: readonly { productId: number; requested: number; available: number }[] = [],
  ) {
    const shortages = [{ productId, requested, available }, ...more.filter((s) => s.productId !== productId)];
    super(
      shortages.length === 1
        ? `Product ${productId} has ${available} left; ${requested} requested`
        : `Not enough stock of products ${shortages.map((s) => s.productId).join(', ')}`,
    );
    this.shortages = shortages;
  }

  static of(
    shortages: readonly { productId: number; requested: number; available: number }[],
  ): InsufficientStockError {
    const [first, ...rest] = shortages;
    if (!first) throw new RangeError('no shortage');
    return new InsufficientStockError(first.productId, first.requested, first.available, rest);
  }
}

/** A bundle definition that cannot be sold: unknown, nested or repeated components. */
export class InvalidBundleError extends Error {
  override readonly name = 'InvalidBundleError';
}

/** A cart whose products (bundle components included) exceed what one DynamoDB transaction holds. */
export class TooManyProductsError extends Error {
  override readonly name = 'TooManyProductsError';
  constructor(
    readonly count: number,
    readonly limit: number,
  ) {
    // A product with a per-buyer cap counts twice: its buyer count is one more durable item.
    super(
      `This purchase touches ${count} products; at most ${limit} fit in one purchase (a capped product counts twice)`,
    );
  }
}

/**
 * The units held for a cart sit on more stock shards than one DynamoDB transaction can write (the
 * end of a sale, where a sharded product's last units are one or two per shard). Buying those
 * products one per purchase always fits: one product's shards are at most 64 items.
 */
export class StockTooSpreadError extends Error {
  override readonly name = 'StockTooSpreadError';
  constructor(
    readonly productIds: readonly number[],
    readonly items: number,
  ) {
    super(
      `The last units of product${productIds.length === 1 ? '' : 's'} ${productIds.join(', ')} are spread over too many stock shards to sell in one purchase with the rest of this cart (${items} writes, at most 100); buy ${productIds.length === 1 ? 'it' : 'them'} in a purchase of ${productIds.length === 1 ? 'its' : 'their'} own`,
    );
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

/**
 * The product is on a hot deal: from its start until its end has settled every order, its units are
 * sold only through the deal's two-phase orders (its window and its cap), never by a plain purchase.
 */
export class DealActiveError extends Error {
  override readonly name = 'DealActiveError';
  constructor(readonly productIds: readonly number[]) {
    super(
      `Product ${productIds.join(', ')} is on a hot deal; order it through POST /api/orders while the deal runs`,
    );
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

/**
 * The purchase was priced from a live price that is no longer the durable one (the price changed
 * while it was in flight). Nothing was bought; the live price is set right before this is thrown,
 * and the purchase use-case tries once more at the durable price.
 */
export class PriceChangedError extends Error {
  override readonly name = 'PriceChangedError';
  constructor(readonly prices: readonly { readonly productId: number; readonly price: number }[]) {
    super(`The price of product ${prices.map((p) => p.productId).join(', ')} changed; try again`);
  }
}

/**
 * The buyer's units of a product plus this request would pass its per-buyer cap: a product's
 * `max_per_user` on plain purchases (`scope: 'product'`), or a hot deal's on its orders (`'deal'`).
 */
export class PurchaseLimitError extends Error {
  override readonly name = 'PurchaseLimitError';
  constructor(
    readonly productId: number,
    readonly limit: number,
    readonly already: number,
    readonly requested: number,
    readonly scope: 'product' | 'deal' = 'deal',
  ) {
    super(
      scope === 'deal'
        ? `At most ${limit} per buyer in this deal; you have ${already} pending or confirmed, ${requested} requested`
        : `At most ${limit} of product ${productId} per buyer; you have bought ${already}, ${requested} requested`,
    );
  }
}

/**
 * The purchase carried a per-buyer cap that is no longer the product's durable one (it changed while
 * the purchase was in flight, or the live store missed the change). Nothing was bought; the live cap
 * is set right before this is thrown, and the purchase use-case tries once more under the durable cap.
 */
export class CapChangedError extends Error {
  override readonly name = 'CapChangedError';
  constructor(readonly caps: readonly { readonly productId: number; readonly cap: number | null }[]) {
    super(`The per-buyer cap of product ${caps.map((c) => c.productId).join(', ')} changed; try again`);
  }
}

/** DynamoDB did not say whether a stock adjustment landed; the reconciler settles it by its audit row. */
export class AdjustmentOutcomeUnknownError extends Error {
  override readonly name = 'AdjustmentOutcomeUnknownError';
  constructor(
    readonly productId: number,
    options?: ErrorOptions,
  ) {
    super(`The stock adjustment of product ${productId} may or may not have been recorded`, options);
  }
}

/**
 * A product with an open hot deal cannot be deleted: its orders still need it. (A stock adjustment
 * goes through during a deal: it moves the deal's free units.)
 */
export class ProductInDealError extends Error {
  override readonly name = 'ProductInDealError';
  constructor(readonly productId: number) {
    super(`Product ${productId} has an open hot deal; end the deal first`);
  }
}

/**
 * A delete kept losing the race to sales changing the stock, or an adjustment to a hot deal starting
 * and ending under it; try again.
 */
export class ProductBusyError extends Error {
  override readonly name = 'ProductBusyError';
  constructor(
    readonly productId: number,
    readonly doing: 'deleted' | 'adjusted' = 'deleted',
  ) {
    super(`Product ${productId} kept changing while it was being ${doing}; try again`);
  }
}
