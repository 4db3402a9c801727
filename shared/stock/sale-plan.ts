/**
 * A sale's plan, worked out from the live stock before any lock or hold: the items priced, bundles
 * expanded into their components, the units per product in ascending id (the order every lock and
 * hold is taken in), which products need a lock, and what falls short.
 */
import { MAX_LINES_PER_PURCHASE, type PurchaseItem, type Shortage, type StockLine } from '../model.ts';
import { TooManyProductsError } from './errors.ts';
import type { LiveStock } from './ports.ts';

export interface SalePlan {
  readonly items: readonly PurchaseItem[];
  /** Units per product, bundle components included, ascending product id. */
  readonly lines: readonly StockLine[];
  /** Products sold under the `lock` strategy, ascending id. */
  readonly lockedProducts: readonly number[];
  readonly shortages: readonly Shortage[];
  /**
   * The per-buyer cap of each capped product among the lines, as the live store has it: the durable
   * write counts the buyer's units of those products, and checks every line's cap is still this.
   */
  readonly caps: ReadonlyMap<number, number>;
}

/** The product ids a request needs live stock for beyond the requested ones: bundle components. */
export function componentIdsOf(live: ReadonlyMap<number, LiveStock>): number[] {
  return [...live.values()]
    .flatMap((l) => l.components.map((c) => c.product_id))
    .filter((id) => !live.has(id));
}

/** `live` must hold every requested product and every component of a requested bundle. */
export function planSale(requested: readonly StockLine[], live: ReadonlyMap<number, LiveStock>): SalePlan {
  const units = new Map<number, number>();
  const take = (productId: number, quantity: number) =>
    units.set(productId, (units.get(productId) ?? 0) + quantity);
  const items = requested.map((item): PurchaseItem => {
    const product = live.get(item.productId) as LiveStock;
    take(item.productId, item.quantity);
    for (const c of product.components) take(c.product_id, c.quantity * item.quantity);
    return {
      product_id: item.productId,
      quantity: item.quantity,
      unit_price: product.price,
      total_price: product.price * item.quantity,
    };
  });
  const caps = new Map<number, number>();
  for (const productId of units.keys()) {
    const cap = live.get(productId)?.maxPerUser;
    if (cap !== undefined) caps.set(productId, cap);
  }
  // A capped product's buyer count is one more item in the durable transaction (at most 100 items):
  // it takes a second of the purchase's places.
  if (units.size + caps.size > MAX_LINES_PER_PURCHASE)
    throw new TooManyProductsError(units.size + caps.size, MAX_LINES_PER_PURCHASE);
  const lines = [...units]
    .map(([productId, quantity]) => ({ productId, quantity }))
    .sort((a, b) => a.productId - b.productId);
  return {
    caps,
    items,
    lines,
    lockedProducts: lines.filter((l) => live.get(l.productId)?.strategy === 'lock').map((l) => l.productId),
    shortages: shortagesOf(lines, live),
  };
}

export function shortagesOf(lines: readonly StockLine[], live: ReadonlyMap<number, LiveStock>): Shortage[] {
  return lines
    .map((l) => ({
      productId: l.productId,
      requested: l.quantity,
      available: live.get(l.productId)?.available ?? 0,
    }))
    .filter((s) => s.available < s.requested);
}
