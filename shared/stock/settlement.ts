/**
 * The durable write of a purchase whose units are held in the live store, and how its holds are
 * settled afterwards, whatever DynamoDB answered:
 *   recorded            → commit the holds (the units are sold)
 *   duplicate           → release ours; the first request with this Idempotency-Key is the outcome
 *   insufficient        → release; DynamoDB holds less than the live store believed
 *   price-changed       → release; the live price is set to the durable one (never charge a stale one)
 *   limit               → release; the buyer's units would pass a product's per-buyer cap
 *   cap-changed         → release; the live cap is set to the durable one (the buyer is judged by it)
 *   fenced              → release; a newer lock holder wrote first, this one's lock had expired
 *   deal-active         → release; a hot deal runs on a product (its orders sell it)
 *   too-spread          → release; the holds span more shard items than one transaction writes
 *   threw (outcome unknown) → ask DynamoDB; release only when the purchase is certainly absent, and
 *                          leave the holds to the reconciler when even that is unknown.
 * Every exit leaves `initial = available + held + durable` true.
 */
import { LockLostError } from '../lock/errors.ts';
import type { PurchaseRecord, ShardTake, StockLine } from '../model.ts';
import { DurableOutcomeUnknownError } from '../outcome.ts';
import {
  CapChangedError,
  DealActiveError,
  IdempotencyKeyReusedError,
  InsufficientStockError,
  PriceChangedError,
  PurchaseInProgressError,
  PurchaseLimitError,
  PurchaseNotRecordedError,
  PurchaseOutcomeUnknownError,
  StockTooSpreadError,
} from './errors.ts';
import type { EventLog, LiveStockStore, PurchaseStore } from './ports.ts';

export interface SettlementDeps {
  readonly stock: Pick<LiveStockStore, 'commitAll' | 'releaseAll' | 'setPrice' | 'setCap' | 'lowerTo'>;
  readonly purchases: Pick<PurchaseStore, 'record' | 'get'>;
  readonly log: EventLog;
  /** Other capabilities' in-flight hashes of a product (hot-deal reservations), for `lowerTo`. */
  readonly inFlightKeys?: (productId: number) => readonly string[];
}

/** Write the purchase durably and settle its holds; answers the purchase the buyer now has. */
export async function recordAndSettle(
  deps: SettlementDeps,
  purchase: PurchaseRecord,
  lines: readonly StockLine[],
  fences?: ReadonlyMap<number, number>,
  /** The purchase's log fields: the durable write's time goes in `durable_write_ms`. */
  measured: Record<string, unknown> = {},
  /** Per sharded product, the shards its holds took from. */
  shards?: ReadonlyMap<number, readonly ShardTake[]>,
  /** A buyer's plain purchase: the per-buyer cap of each capped product, as the sale saw it. */
  caps?: ReadonlyMap<number, number>,
  /**
   * Given, the holds' commit after a recorded write is started and put here rather than awaited:
   * the caller awaits it once its lock is released (the commit never throws: a failed one is left
   * to the reconciler, as below).
   */
  commits?: Promise<void>[],
): Promise<PurchaseRecord> {
  let recorded: Awaited<ReturnType<PurchaseStore['record']>>;
  const started = performance.now();
  try {
    recorded = await deps.purchases.record(purchase, fences, shards, caps);
  } catch (error) {
    return settleFailedWrite(deps, purchase, lines, error);
  } finally {
    measured.durable_write_ms = Math.round(performance.now() - started);
  }

  if (recorded.status === 'recorded') {
    const committed = commitHolds(deps, lines, purchase.id);
    if (commits) commits.push(committed);
    else await committed;
    return purchase;
  }
  await deps.stock.releaseAll(lines, purchase.id);
  if (recorded.status === 'duplicate') {
    // A retry with the same Idempotency-Key got here after the first one finished.
    const earlier = await deps.purchases.get(purchase.id);
    if (!earlier) throw new PurchaseInProgressError(purchase.id);
    return replay(earlier, purchase.request_fingerprint);
  }
  if (recorded.status === 'fenced') {
    deps.log.warn('durable write refused: a newer lock holder wrote first', {
      purchase_id: purchase.id,
      fences: recorded.fences,
    });
    const [first] = recorded.fences;
    if (!first) throw new RangeError('fenced without a fence');
    throw new LockLostError(String(first.productId), first.fence, first.stored);
  }
  if (recorded.status === 'deal-active') {
    // A deal opened in DynamoDB after the live store let this purchase in: the deal's orders sell it.
    throw new DealActiveError(recorded.productIds);
  }
  if (recorded.status === 'too-spread') {
    deps.log.warn('purchase refused: its holds span more stock shards than one transaction writes', {
      purchase_id: purchase.id,
      items: recorded.items,
      product_ids: recorded.productIds,
    });
    throw new StockTooSpreadError(recorded.productIds, recorded.items);
  }
  if (recorded.status === 'limit') {
    // The buyer's own count refused it: nothing of the stock is wrong, only this buyer is at the cap.
    const [first] = recorded.limits;
    if (!first) throw new RangeError('limit without a product');
    throw new PurchaseLimitError(first.productId, first.limit, first.already, first.requested, 'product');
  }
  if (recorded.status === 'cap-changed') {
    // The live cap was stale (a change in flight, or a live store that missed it): put the durable
    // cap live, and the durable price too where that changed as well, then say so.
    await Promise.all([
      ...recorded.caps.map((c) => deps.stock.setCap(c.productId, c.cap)),
      ...recorded.prices.map((p) => deps.stock.setPrice(p.productId, p.price)),
    ]);
    deps.log.warn('durable per-buyer cap refused a sale capped live', {
      caps: recorded.caps,
      purchase_id: purchase.id,
    });
    throw new CapChangedError(recorded.caps);
  }
  if (recorded.status === 'price-changed') {
    // The live price was stale: never charge it. Put the durable price live, then say so.
    await Promise.all(recorded.prices.map((p) => deps.stock.setPrice(p.productId, p.price)));
    deps.log.warn('durable price refused a sale priced live', {
      prices: recorded.prices,
      purchase_id: purchase.id,
    });
    throw new PriceChangedError(recorded.prices);
  }
  // DynamoDB holds less than the live store believed (a restore ran ahead of in-flight writes, a
  // failover lost the last decrements): phantom units. Lower the live stock at once to what DynamoDB
  // can still sell, so the sold-out crowd stops at Redis instead of reaching DynamoDB.
  const lowered = await Promise.all(
    (recorded.durable ?? []).map(async ({ productId, stock, shard }) => ({
      product_id: productId,
      db_stock: stock,
      ...(shard !== undefined && { shard }),
      available: await deps.stock
        .lowerTo(productId, stock, deps.inFlightKeys?.(productId), shard)
        .catch(() => 'unknown' as const),
    })),
  );
  deps.log.warn('durable stock refused a sale Redis allowed; live stock lowered', {
    product_ids: recorded.productIds,
    purchase_id: purchase.id,
    lowered,
  });
  throw InsufficientStockError.of(
    recorded.productIds.map((productId) => ({
      productId,
      requested: lines.find((l) => l.productId === productId)?.quantity ?? 0,
      available: 0,
    })),
  );
}

/** An earlier purchase with this id is the answer, if the retry asked for the same thing. */
export function replay(earlier: PurchaseRecord, fingerprint: string | undefined): PurchaseRecord {
  if (earlier.request_fingerprint !== fingerprint) throw new IdempotencyKeyReusedError(earlier.id);
  return earlier;
}

/** The purchase is durable; a live-store failure here only delays dropping the holds (the reconciler will). */
async function commitHolds(deps: SettlementDeps, lines: readonly StockLine[], holdId: string): Promise<void> {
  try {
    await deps.stock.commitAll(lines, holdId);
  } catch (error) {
    deps.log.error('holds not committed; the reconciler will', { purchase_id: holdId, error });
  }
}

/**
 * The durable write threw. If it certainly changed nothing, the holds go back and the buyer is told
 * nothing was bought. If its outcome is unknown, a purchase row proves it was applied; no row proves
 * nothing (the write may still land), so the holds stay for the reconciler and the buyer is told
 * to retry with the same Idempotency-Key.
 */
async function settleFailedWrite(
  deps: SettlementDeps,
  purchase: PurchaseRecord,
  lines: readonly StockLine[],
  error: unknown,
): Promise<PurchaseRecord> {
  if (error instanceof DurableOutcomeUnknownError) {
    const existing = await deps.purchases.get(purchase.id).catch(() => null);
    if (existing) {
      await commitHolds(deps, lines, purchase.id);
      return existing;
    }
    deps.log.error('purchase outcome unknown; holds left to the reconciler', {
      purchase_id: purchase.id,
      error,
    });
    throw new PurchaseOutcomeUnknownError(purchase.id, { cause: error });
  }
  await deps.stock.releaseAll(lines, purchase.id);
  deps.log.error('durable write failed; holds released', { purchase_id: purchase.id, error });
  throw new PurchaseNotRecordedError(purchase.id, { cause: error });
}
