/**
 * Reconciliation (scheduled every minute in AWS, on an interval locally) and the full audit.
 *
 * Per product, cheapest first:
 *  1. Redis lost the product (flush, failover, new cluster) → restore it from DynamoDB.
 *  2. Holds older than any request can live → the purchase exists in DynamoDB: commit; it does not: release.
 *  3. No hold in flight and Redis disagrees with DynamoDB → set Redis to DynamoDB's stock (compare-and-set).
 * Its cost grows with products and stale holds, never with purchases; a hot deal's share of a pass
 * is bounded by its own per-pass budget (shared/orders), so one large deal cannot starve the others.
 * Products are reconciled a few at a time; a lease keeps two passes from overlapping.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ulid } from 'ulid';
import type { AuditAction, AuditEntry, ProductRecord } from '../model.ts';
import { auditIdOfHold } from './adjustments.ts';
import type {
  AuditTrail,
  EventLog,
  LiveStock,
  LiveStockStore,
  ProductStore,
  PurchaseStore,
} from './ports.ts';

/** Who the audit log names for the reconciler's changes. */
export const RECONCILER_ACTOR = 'reconciler';

/** A finished pass, for the operator (the admin page shows the last one). */
export interface PassRecord extends ReconcileSummary {
  readonly at: string;
  readonly duration_ms: number;
}

/** Where the last pass is kept (Redis: it is a status, not a record). */
export interface PassLog {
  record(pass: PassRecord): Promise<void>;
  last(): Promise<PassRecord | null>;
}

export interface ReconcileSummary {
  products: number;
  restored: number;
  holdsCommitted: number;
  holdsReleased: number;
  /**
   * Hot-deal reservations settled (committed, released or expired) by the deals port, and those of
   * PENDING orders it put back after the live store lost them.
   */
  reservationsSettled: number;
  repaired: number;
  /** Holds in Redis when the pass looked (in flight or stale): what the store has handed out unsettled. */
  holds: number;
  /** Products whose live stock disagreed with the durable stock when the pass looked. */
  drift: number;
  /** Products whose durable stock is below zero: more sold than there ever was. Must stay 0. */
  oversold: number;
  /** Products whose pass failed (logged); the pass went on with the others. */
  failed: number;
  /** True when another pass held the lease and this one did nothing. */
  skipped?: boolean;
}

/** What one product's pass counts; a whole pass sums them over its products. */
export type ProductTally = Omit<ReconcileSummary, 'products' | 'failed' | 'skipped'>;

const emptyTally = (): ProductTally => ({
  restored: 0,
  holdsCommitted: 0,
  holdsReleased: 0,
  reservationsSettled: 0,
  repaired: 0,
  holds: 0,
  drift: 0,
  oversold: 0,
});

const TALLY_FIELDS = Object.keys(emptyTally()) as (keyof ProductTally)[];

/**
 * What the hot deals (shared/orders) add to one product's pass: a restore that rebuilds reservations
 * instead of handing reserved units out twice, and the settling of its reservations.
 */
export interface DealReconcilePort {
  restore(product: ProductRecord): Promise<boolean>;
  settle(product: ProductRecord): Promise<number>;
  /**
   * What the live `available` should be when nothing is in flight (a deal's free units while it
   * runs, the durable stock otherwise); null to leave the product alone (a deal's end unfinished).
   */
  liveTarget(product: ProductRecord): number | null;
}

/** Products reconciled at once: enough to hide round trips, few enough to leave the stores to sales. */
export const RECONCILE_CONCURRENCY = 8;

/**
 * Units another capability keeps in flight in the live store (hot-deal reservations): the repair
 * must wait for them and the audit must count them. Reading them needs only the live store.
 */
export interface InFlightUnits {
  /** The live-store hashes of this product's units in flight. */
  inFlightKeys(productId: number): readonly string[];
  /** Units they hold. */
  reserved(productId: number): Promise<number>;
}

export interface ProductAudit {
  readonly product_id: number;
  readonly initial_stock: number;
  /** Σ of the stock adjustments: initial_stock + adjusted = db_stock + sold. */
  readonly adjusted: number;
  readonly sold: number;
  readonly db_stock: number;
  readonly redis_stock: number | null;
  /** Units taken in Redis whose purchase is not settled yet (in flight, or waiting for the reconciler). */
  readonly held: number;
  /** Units reserved by PENDING hot-deal orders (reservations:{id}). */
  readonly reserved: number;
  readonly ok: boolean;
  /** A sharded product's durable stock per shard (Σ = db_stock). */
  readonly db_shards?: readonly number[];
}

export interface InventoryAudit {
  readonly consistent: boolean;
  readonly products: ProductAudit[];
}

export class Reconciler {
  constructor(
    private readonly deps: {
      readonly stock: LiveStockStore;
      readonly products: Pick<ProductStore, 'get' | 'listAll'>;
      readonly purchases: Pick<PurchaseStore, 'get' | 'unitsSold'>;
      readonly log: EventLog;
      /** Longer than the longest possible request (the Lambda timeout), so a stale hold's owner is dead. */
      readonly holdStaleAfterMs: number;
      /** Hot deals; without it a lost product is restored from its durable stock alone. */
      readonly deals?: DealReconcilePort;
      /** Hot-deal reservations in flight; without it none are counted. */
      readonly inFlight?: InFlightUnits;
      /** Keeps two passes from running at once (a slow pass and the next schedule). */
      readonly lease?: { acquire(): Promise<boolean>; release(): Promise<void> };
      /**
       * The product locks' fence counters. Redis may have lost them with the product: a restore
       * starts the counter above the fence DynamoDB recorded, or the next holder's write would be
       * refused as if its lock had expired.
       */
      readonly fences?: { advanceFence(resource: string, fence: number): Promise<void> };
      /** Products reconciled at once (RECONCILE_CONCURRENCY). */
      readonly concurrency?: number;
      /**
       * The audit log: a row per restore and repair, and the rows that tell whether a stock
       * adjustment's hold landed. Without it an adjustment's stale hold is left alone.
       */
      readonly audit?: Partial<AuditTrail>;
      /** Where each finished pass is recorded. */
      readonly passes?: PassLog;
    },
  ) {}

  /** Whether the durable change behind a hold happened: its purchase, or its adjustment's audit row. */
  private async landed(holdId: string): Promise<boolean | null> {
    const auditId = auditIdOfHold(holdId);
    if (auditId === null) return (await this.deps.purchases.get(holdId)) !== null;
    return this.deps.audit?.has ? this.deps.audit.has(auditId) : null;
  }

  /** One audit row for a change the reconciler made in Redis (no DynamoDB write to join). */
  private async recordRepair(
    action: AuditAction,
    fields: Omit<AuditEntry, 'id' | 'at' | 'actor' | 'action'>,
  ) {
    if (!this.deps.audit?.append) return;
    const entry = { id: ulid(), at: new Date().toISOString(), actor: RECONCILER_ACTOR, action, ...fields };
    await this.deps.audit.append(entry).catch((error: unknown) => {
      this.deps.log.error('reconcile: audit row not written', { ...entry, error });
    });
  }

  /** The last finished pass; null before the first. */
  lastPass(): Promise<PassRecord | null> {
    return this.deps.passes ? this.deps.passes.last() : Promise.resolve(null);
  }

  /**
   * One pass over every product. One product's failure is logged and counted, never the end of the
   * pass; with a lease (the live store's), overlapping passes (a slow one and the next schedule)
   * do not run at once.
   */
  async reconcileAll(): Promise<ReconcileSummary> {
    const summary: ReconcileSummary = { products: 0, failed: 0, ...emptyTally() };
    const lease = this.deps.lease ? await this.deps.lease.acquire() : true;
    if (!lease) return { ...summary, skipped: true };
    const started = Date.now();
    try {
      const products = await this.deps.products.listAll(true);
      let next = 0;
      const worker = async () => {
        while (next < products.length) {
          const product = products[next++] as ProductRecord;
          summary.products += 1;
          try {
            const one = await this.reconcileProduct(product);
            for (const field of TALLY_FIELDS) summary[field] += one[field];
          } catch (error) {
            summary.failed += 1;
            this.deps.log.error('reconcile: product failed; the pass goes on', {
              product_id: product.id,
              error,
            });
          }
        }
      };
      await Promise.all(Array.from({ length: this.deps.concurrency ?? RECONCILE_CONCURRENCY }, worker));
    } finally {
      await this.deps.lease?.release().catch(() => undefined);
    }
    const pass = { ...summary, at: new Date().toISOString(), duration_ms: Date.now() - started };
    await this.deps.passes?.record(pass).catch(() => undefined);
    return summary;
  }

  async reconcileProduct(product: ProductRecord): Promise<ProductTally> {
    const { stock, log } = this.deps;
    const result = { ...emptyTally(), oversold: belowZero(product) ? 1 : 0 };
    const product_id = product.id;
    const { deals } = this.deps;

    if (await (deals ? deals.restore(product) : stock.load(product))) {
      result.restored = 1;
      if (product.lock_fence !== undefined)
        await this.deps.fences?.advanceFence(String(product_id), product.lock_fence);
      log.warn('reconcile: live stock restored from DynamoDB', {
        repair: 'restore',
        product_id,
        available: product.stock,
      });
      await this.recordRepair('stock.restore', {
        product_id,
        reason: 'Redis had no live stock for the product',
        detail: { db_stock: product.stock },
      });
    }

    const holds = await stock.holds(product_id);
    result.holds = holds.length;
    for (const hold of holds) {
      if (hold.ageMs < this.deps.holdStaleAfterMs) continue;
      const fields = { product_id, purchase_id: hold.holdId, quantity: hold.quantity, age_ms: hold.ageMs };
      const landed = await this.landed(hold.holdId);
      if (landed === null) continue;
      if (landed) {
        if (await stock.commit(product_id, hold.holdId)) {
          result.holdsCommitted += 1;
          log.warn('reconcile: stale hold committed (purchase is durable)', {
            repair: 'commit-hold',
            ...fields,
          });
          await this.recordRepair('hold.commit', {
            product_id,
            reason: 'stale hold whose durable write landed',
            detail: { hold_id: hold.holdId, quantity: hold.quantity, age_ms: hold.ageMs },
          });
        }
      } else if ((await stock.release(product_id, hold.holdId)) !== 'no-hold') {
        result.holdsReleased += 1;
        log.warn('reconcile: stale hold released (no durable purchase)', {
          repair: 'release-hold',
          ...fields,
        });
        await this.recordRepair('hold.release', {
          product_id,
          delta: hold.quantity,
          reason: 'stale hold whose durable write never landed: units back on sale',
          detail: { hold_id: hold.holdId, age_ms: hold.ageMs },
        });
      }
    }

    if (deals) result.reservationsSettled = await deals.settle(product);

    // Read Redis, then DynamoDB, then compare-and-set: any sale in between changes Redis or adds a
    // hold, and the script then leaves it alone for the next run. The pass's own read of the product
    // (before Redis) decides whether a fresh one is worth its DynamoDB read: a sale in between makes
    // them differ, and the fresh read then comes after Redis, as the order above needs.
    // A sharded product also compares shard by shard: a total that agrees over shards that do not would
    // send a sale to a shard item that cannot take it.
    const targetOf = (p: ProductRecord) => (deals ? deals.liveTarget(p) : p.stock);
    const observed = await stock.peek(product_id);
    const changed = result.restored + result.reservationsSettled > 0;
    if (!observed || (!changed && targetOf(product) === observed.available && shardsAgree(product, observed)))
      return result;
    const durable = await this.deps.products.get(product_id, true);
    const target = durable && targetOf(durable);
    const totalDrifts = durable && target !== null && observed.available !== target;
    const shardsDrift = durable && target !== null && !shardsAgree(durable, observed);
    if (durable && target !== null && (totalDrifts || shardsDrift)) {
      if (totalDrifts) result.drift = 1;
      const repair = await stock.repair(
        product_id,
        observed.available,
        target,
        this.deps.inFlight?.inFlightKeys(product_id),
        durable.shard_stock,
      );
      if (repair === 'repaired') {
        result.drift = 1;
        result.repaired = 1;
        log.warn('reconcile: live stock set to the durable stock', {
          repair: 'set-stock',
          product_id,
          redis_stock: observed.available,
          db_stock: durable.stock,
          target,
        });
        await this.recordRepair('stock.repair', {
          product_id,
          delta: durable.stock - observed.available,
          reason: 'Redis disagreed with DynamoDB with nothing in flight',
          detail: {
            redis_stock: observed.available,
            db_stock: durable.stock,
            ...(durable.shard_stock && { redis_shards: observed.shards, db_shards: durable.shard_stock }),
          },
        });
      }
    }
    return result;
  }

  /**
   * The full audit: per product, initial + Σ adjustments = durable stock + Σ purchases, and
   * live + held + reserved = durable. `productIds` narrows it to those products (the admin page's
   * view); unknown ids are left out.
   */
  async verify(productIds?: readonly number[]): Promise<InventoryAudit> {
    const products = productIds
      ? (await Promise.all(productIds.map((id) => this.deps.products.get(id, true)))).filter(
          (p): p is ProductRecord => p !== null,
        )
      : await this.deps.products.listAll(true);
    const audits = await Promise.all(products.map((product) => this.auditWhileSelling(product)));
    const consistent = audits.every((a) => a.ok);
    this.deps.log.info('inventory verified', {
      products: audits.length,
      inconsistent: audits.filter((a) => !a.ok).length,
      // More units sold than the product ever had, or a durable stock below zero.
      oversold: audits.filter(
        (a) => a.sold > a.initial_stock || a.db_stock < 0 || (a.db_shards ?? []).some((u) => u < 0),
      ).length,
    });
    return { consistent, products: audits };
  }

  /**
   * One product's audit, robust to a sale in flight: the reads are not one snapshot, so a purchase
   * landing between them can make a correct ledger look wrong. A row that does not add up is read
   * once more (a fresh product row, holds checked against DynamoDB) before it is reported; a real
   * inconsistency stays one, and a consistent row costs no extra read.
   */
  private async auditWhileSelling(first: ProductRecord): Promise<ProductAudit> {
    const audit = await this.auditProduct(first, false);
    if (audit.ok) return audit;
    // Does not add up: look again, once, counting holds whose purchase is already durable as sold.
    await sleep(50);
    const product = await this.deps.products.get(first.id, true);
    return product ? this.auditProduct(product, true) : audit;
  }

  private async auditProduct(product: ProductRecord, settleHolds: boolean): Promise<ProductAudit> {
    const [live, holds, reserved] = await Promise.all([
      this.deps.stock.peek(product.id),
      this.deps.stock.holds(product.id),
      this.deps.inFlight ? this.deps.inFlight.reserved(product.id) : 0,
    ]);
    // Sold is read after the product row: a purchase that lands in between is in both or in sold
    // alone. On the second look, a hold whose purchase is already durable counts as sold, not held.
    const sold = await this.deps.purchases.unitsSold(product.id);
    const durableHolds = settleHolds
      ? await Promise.all(holds.map(async (h) => ((await this.landed(h.holdId)) ? h.quantity : 0)))
      : [];
    const held = holds.reduce((sum, h) => sum + h.quantity, 0) - durableHolds.reduce((a, b) => a + b, 0);
    const redis = live?.available ?? null;
    const adjusted = product.adjusted ?? 0;
    const ok =
      !belowZero(product) &&
      product.initial_stock + adjusted === product.stock + sold &&
      redis !== null &&
      redis + held + reserved === product.stock;
    return {
      product_id: product.id,
      initial_stock: product.initial_stock,
      adjusted,
      sold,
      db_stock: product.stock,
      redis_stock: redis,
      held,
      reserved,
      ok,
      ...(product.shard_stock && { db_shards: product.shard_stock }),
    };
  }
}

/** A durable stock below zero: the product's, or on a sharded product any one shard's. */
const belowZero = (product: ProductRecord) =>
  product.stock < 0 || (product.shard_stock ?? []).some((units) => units < 0);

/** Whether the live per-shard counters are the durable shards (true for an unsharded product). */
function shardsAgree(durable: ProductRecord, live: LiveStock): boolean {
  const shards = durable.shard_stock;
  if (!shards) return true;
  return shards.length === live.shards?.length && shards.every((units, i) => live.shards?.[i] === units);
}
