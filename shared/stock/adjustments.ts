/**
 * Stock adjustments while a sale runs: an admin adds or removes units of a product without breaking
 * the ledger, in DynamoDB (initial_stock + adjusted = stock + sold) or in Redis (available + held +
 * reserved = stock).
 *
 * Removing units goes the way a sale goes: the units are taken from Redis's live count as a hold
 * (refused when fewer are unsold), then one DynamoDB transaction lowers the durable stock and writes
 * the audit row, then the hold is dropped. Adding units marks the product in Redis (a 0-unit hold,
 * so no repair runs in between), raises the durable stock with the audit row, then credits the live
 * count and drops the mark in one script. Either way a request that dies leaves a hold the reconciler
 * settles by the audit row: there, the change landed (commit); absent, it did not (release).
 *
 * During a hot deal the same steps move the deal's pool: Redis's `available` is then the deal's free
 * units (reservations already taken out), so a removal's hold takes only units no order reserved and
 * an addition's credit is orderable at once; DynamoDB's transaction moves `deal_free` with the stock
 * and refuses a removal beyond it. Which pool the durable write moves is decided by its condition at
 * the moment it lands (shared/db/products.ts), so a deal starting or ending in between cannot split
 * the change. A deal's start, end or rebuild sets `available` from DynamoDB minus the holds: a
 * removal still held is counted out, and the marks of additions are dropped (their credit then does
 * nothing), so Redis never shows units DynamoDB lacks; at worst it shows fewer until the reconciler's
 * repair (docs/hot-deals.md, "Stock adjustments during a deal").
 */
import { ulid } from 'ulid';
import {
  type AuditEntry,
  type DealProduct,
  type ProductRecord,
  type ShardTake,
  shardsOf,
  splitAcrossShards,
} from '../model.ts';
import { DurableOutcomeUnknownError } from '../outcome.ts';
import {
  AdjustmentOutcomeUnknownError,
  InsufficientStockError,
  ProductBusyError,
  ProductNotFoundError,
  StockUnavailableError,
} from './errors.ts';
import type { EventLog, LiveStockStore, ProductStore } from './ports.ts';

const HOLD_PREFIX = 'adjust-';

/** Whether a hot deal holds the product (open, or its end has not settled every order). */
const dealHolds = (product: ProductRecord) => {
  const { deal, deal_reserved } = product as DealProduct;
  return deal?.status === 'open' || (deal_reserved ?? 0) > 0;
};

/** The Redis hold of an adjustment in flight, named after its audit row. */
export const adjustmentHoldId = (auditId: string) => `${HOLD_PREFIX}${auditId}`;

/** The audit row an adjustment's hold waits for; null for a purchase's hold. */
export const auditIdOfHold = (holdId: string): string | null =>
  holdId.startsWith(HOLD_PREFIX) ? holdId.slice(HOLD_PREFIX.length) : null;

export interface StockAdjustmentView {
  readonly product_id: number;
  readonly delta: number;
  readonly db_stock: number;
  readonly redis_stock: number | null;
}

export interface AdjustmentDeps {
  readonly products: Pick<ProductStore, 'get' | 'adjustStock'>;
  readonly stock: Pick<LiveStockStore, 'withdraw' | 'release' | 'commit' | 'mark' | 'credit' | 'availableOf'>;
  /** Puts back a product the live store lost (deal-aware), as a purchase would. */
  readonly restore: (product: ProductRecord) => Promise<boolean>;
  readonly log: EventLog;
  readonly now?: () => Date;
}

export class StockAdjustmentService {
  private readonly now: () => Date;

  constructor(private readonly deps: AdjustmentDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async adjust(
    productId: number,
    delta: number,
    reason: string,
    actor: string,
  ): Promise<StockAdjustmentView> {
    const { products, stock, log } = this.deps;
    const product = await products.get(productId, true);
    if (!product) throw new ProductNotFoundError(productId);
    const entry: AuditEntry = {
      id: ulid(),
      at: this.now().toISOString(),
      actor,
      action: 'stock.adjust',
      product_id: productId,
      delta,
      reason,
    };
    const holdId = adjustmentHoldId(entry.id);
    // A sharded product: removed units leave the shards the live store held them from, added ones are
    // spread evenly, the same in DynamoDB and Redis.
    const shards = shardsOf(product);
    let perShard: readonly ShardTake[] | undefined =
      shards > 1 && delta > 0
        ? splitAcrossShards(delta, shards).map((quantity, shard) => ({ shard, quantity }))
        : undefined;
    let live = true;
    if (delta < 0) {
      const taken = await this.take(product, -delta, holdId);
      if (shards > 1) perShard = taken;
    } else live = await this.markIncoming(product, holdId);

    let outcome: Awaited<ReturnType<ProductStore['adjustStock']>>;
    try {
      outcome = await products.adjustStock(productId, delta, entry, perShard, dealHolds(product));
    } catch (error) {
      if (error instanceof DurableOutcomeUnknownError) {
        log.error('stock adjustment outcome unknown; its hold is left to the reconciler', {
          product_id: productId,
          adjustment_id: entry.id,
          delta,
          error,
        });
        throw new AdjustmentOutcomeUnknownError(productId, { cause: error });
      }
      if (live) await stock.release(productId, holdId);
      throw error;
    }
    if (outcome.status !== 'adjusted') {
      if (live) await stock.release(productId, holdId);
      if (outcome.status === 'not-found') throw new ProductNotFoundError(productId);
      if (outcome.status === 'busy') throw new ProductBusyError(productId, 'adjusted');
      // Redis had the units unsold but DynamoDB does not (during a deal: not free): Redis is ahead,
      // and the reconciler lowers it.
      throw new InsufficientStockError(productId, -delta, outcome.stock);
    }

    if (live) await this.settle(productId, holdId, delta, perShard);
    log.info('stock adjusted', { product_id: productId, adjustment_id: entry.id, delta, actor });
    const [after, available] = await Promise.all([
      products.get(productId, true),
      stock.availableOf([productId]).catch(() => new Map<number, number | null>()),
    ]);
    return {
      product_id: productId,
      delta,
      db_stock: after?.stock ?? product.stock + delta,
      redis_stock: available.get(productId) ?? null,
    };
  }

  /**
   * Take unsold units as a hold (during a hot deal: free ones, no order's reservation); refused when
   * fewer are there. Answers a sharded product's shards.
   */
  private async take(
    product: ProductRecord,
    quantity: number,
    holdId: string,
  ): Promise<readonly ShardTake[] | undefined> {
    let result = await this.deps.stock.withdraw(product.id, quantity, holdId);
    if (result.status === 'unknown') {
      await this.deps.restore(product);
      result = await this.deps.stock.withdraw(product.id, quantity, holdId);
    }
    if (result.status === 'insufficient')
      throw new InsufficientStockError(product.id, quantity, result.available);
    if (result.status !== 'reserved') throw new StockUnavailableError(product.id);
    return result.takes;
  }

  /**
   * Mark the units on their way in. Without live stock (Redis lost the product) there is nothing to
   * credit: whoever restores it loads the durable count, which has them (or the repair adds them).
   */
  private async markIncoming(product: ProductRecord, holdId: string): Promise<boolean> {
    if (await this.deps.stock.mark(product.id, holdId)) return true;
    await this.deps.restore(product);
    return this.deps.stock.mark(product.id, holdId);
  }

  /**
   * The change is durable: drop the hold (removal) or credit the units (addition). A Redis failure
   * here leaves the hold to the reconciler, which finds the audit row and settles it the same way.
   */
  private async settle(
    productId: number,
    holdId: string,
    delta: number,
    perShard: readonly ShardTake[] | undefined,
  ): Promise<void> {
    try {
      if (delta < 0) await this.deps.stock.commit(productId, holdId);
      else await this.deps.stock.credit(productId, holdId, delta, perShard);
    } catch (error) {
      this.deps.log.warn('stock adjustment durable; its hold is left to the reconciler', {
        product_id: productId,
        hold_id: holdId,
        error,
      });
    }
  }
}
