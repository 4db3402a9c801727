/**
 * The purchase use-case, for one product, a cart of several, or a bundle (a product made of others).
 * The live store (Redis) is the fast gate: it refuses sold-out buyers without touching DynamoDB.
 * DynamoDB's conditional transaction is the final word: it can never go below zero.
 *
 *   lock:   lock the products (ascending id) → reserve (holds) → durable write → commit → release
 *   atomic: reserve (holds) → durable write → commit; the reserve script alone serializes buyers
 *
 * A cart is all or nothing at every step: every line is reserved or none, and the durable write is
 * one transaction over every product. The plan is in sale-plan.ts, the durable write and the
 * settling of holds in settlement.ts.
 */
import { ulid } from 'ulid';
import { TooManyRequestsError } from '../limits/errors.ts';
import type { AcquireOptions, DistributedLock, Lock } from '../lock/index.ts';
import { LOCK_DEFAULTS, LockLostError, LockNotAcquiredError, withLocks } from '../lock/index.ts';
import type { ProductRecord, PurchaseRecord, StockLine } from '../model.ts';
import {
  CapChangedError,
  DealActiveError,
  IdempotencyKeyReusedError,
  InsufficientStockError,
  PriceChangedError,
  ProductNotFoundError,
  PurchaseInProgressError,
  PurchaseLimitError,
  PurchaseOutcomeUnknownError,
  StockTooSpreadError,
  StockUnavailableError,
} from './errors.ts';
import type {
  EventLog,
  LiveStock,
  LiveStockStore,
  ProductStore,
  PurchaseGate,
  PurchaseStore,
} from './ports.ts';
import { purchaseIdFor, requestFingerprint } from './purchase-ids.ts';
import { componentIdsOf, planSale, type SalePlan, shortagesOf } from './sale-plan.ts';
import { recordAndSettle, replay } from './settlement.ts';

/** A durable write's request timeout (3 s) and a margin: what a holder needs after the grant. */
const DEFAULT_FINISH_RESERVE_MS = 4_000;

/** One product and how many of it the buyer asks for. */
export type RequestedItem = StockLine;

export interface PurchaseRequest {
  readonly userId: number;
  /** Distinct products (the schema refuses repeats); one item for the contract's one-product body. */
  readonly items: readonly RequestedItem[];
  /** The contract's `{product_id, quantity}` body: the record echoes them. */
  readonly single?: boolean;
  /** Makes the purchase id a function of (user, key): a retry finds the first outcome. */
  readonly idempotencyKey?: string | undefined;
  /**
   * When the caller's invocation ends (epoch ms). A lock waiter stays in line as long as it can still
   * finish the purchase after getting the lock, so a slow holder delays the line instead of turning
   * it into 409s; the configured wait budget stays the upper bound.
   */
  readonly deadline?: number | undefined;
}

export interface PurchaseDeps {
  readonly stock: LiveStockStore;
  readonly locks: DistributedLock;
  readonly products: Pick<ProductStore, 'get'>;
  readonly purchases: Pick<PurchaseStore, 'record' | 'get'>;
  readonly log: EventLog;
  /**
   * Puts a product the live store lost back from DynamoDB. The hot deals' restore (shared/orders)
   * rebuilds the reservations of pending orders too; the default loads the durable stock alone.
   */
  readonly restore?: (product: ProductRecord) => Promise<boolean>;
  /** Wait budget, TTL and backoff of the product locks (the `lock` strategy). */
  readonly lockOptions?: Omit<AcquireOptions, 'beforeRetry'>;
  /**
   * What a lock holder needs after the grant to finish (the durable write with its timeout): a
   * waiter with a deadline leaves the line this long before it.
   */
  readonly finishReserveMs?: number;
  /**
   * How long an Idempotency-Key's purchase stays claimed by its first request: longer than any
   * request lives (the Lambda timeout), so a retry meets the first request's outcome, never a race.
   */
  readonly claimTtlMs?: number;
  /** Per-user limits: purchases in flight, places in a lock line. None: unlimited (tests of the core). */
  readonly gate?: PurchaseGate;
  /** Other capabilities' in-flight hashes of a product (hot-deal reservations). */
  readonly inFlightKeys?: (productId: number) => readonly string[];
  readonly now?: () => Date;
  /**
   * Write one in this many sold-out refusals' `purchase` lines (1: every one; 0: none); the others
   * are counted through the log's `count` (their metrics) without a line. @default 1
   */
  readonly soldOutLogEvery?: number;
}

export class PurchaseService {
  private readonly now: () => Date;
  /** Sold-out refusals this instance has answered: which of them is the sampled one. */
  private soldOut = 0;

  constructor(private readonly deps: PurchaseDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * One purchase. A sale priced from a live price that changed meanwhile is refused by DynamoDB
   * (the price is part of the durable condition); the live price is then set right and the sale is
   * tried once more, so the buyer pays the durable price or is told why not. A per-buyer cap the live
   * store had wrong is refused and set right the same way, so the buyer is judged by the durable cap.
   */
  async purchase(request: PurchaseRequest): Promise<PurchaseRecord> {
    try {
      return await this.purchaseOnce(request);
    } catch (error) {
      if (!(error instanceof PriceChangedError || error instanceof CapChangedError)) throw error;
      return this.purchaseOnce(request);
    }
  }

  private async purchaseOnce(request: PurchaseRequest): Promise<PurchaseRecord> {
    const { userId, items, idempotencyKey } = request;
    const fingerprint = idempotencyKey === undefined ? undefined : requestFingerprint(items);
    // A keyed purchase's id is its key's. Any other gets one minted only once it is past the
    // sold-out check: a refusal (most of a sale's traffic) needs none.
    let id = idempotencyKey === undefined ? undefined : purchaseIdFor(userId, idempotencyKey);
    const started = performance.now();
    const fields: Record<string, unknown> = {
      ...(id !== undefined && { purchase_id: id }),
      user_id: userId,
      product_ids: items.map((i) => i.productId),
    };
    let outcome = 'error';
    let claimed = false;
    const leave: (() => Promise<void>)[] = [];
    // The holds' commit once DynamoDB has the purchase: sent at once, awaited at the end with the
    // slot's release (and, under `lock`, sent with the lock's release): one round trip for all.
    const commits: Promise<void>[] = [];
    try {
      let plan: SalePlan;
      if (id === undefined) {
        // Judged against the live store first: a sold-out refusal costs one read, and takes neither
        // an id nor one of the buyer's in-flight slots (the reserve script checks the stock again).
        plan = await this.planOrRefuse(items, fields);
        id = ulid();
        fields.purchase_id = id;
        if (this.deps.gate) leave.push(await this.deps.gate.enter(userId, id));
      } else {
        if (fingerprint) {
          const earlier = await this.deps.purchases.get(id);
          if (earlier) {
            outcome = 'replayed';
            return replay(earlier, fingerprint);
          }
          // One request per purchase id at a time: a retry while the first one holds units (or
          // waits for the lock, or writes) is told so, instead of being judged against the first
          // one's units.
          claimed = await this.deps.stock.claimPurchase(id, this.deps.claimTtlMs ?? 60_000);
          if (!claimed) {
            const settled = await this.deps.purchases.get(id);
            if (settled) {
              outcome = 'replayed';
              return replay(settled, fingerprint);
            }
            throw new PurchaseInProgressError(id);
          }
        }
        // After the claim: a retry of a purchase in flight is told so (409), not counted twice.
        if (this.deps.gate) leave.push(await this.deps.gate.enter(userId, id));
        plan = await this.planOrRefuse(items, fields);
      }
      const purchaseId = id;

      const sell = (held: readonly Lock[] = []) =>
        this.reserveAndRecord(
          purchaseId,
          userId,
          request,
          plan,
          fingerprint,
          fencesOf(held),
          fields,
          commits,
        );
      if (plan.lockedProducts.length === 0) {
        const purchase = await sell();
        outcome = 'purchased';
        return purchase;
      }
      if (this.deps.gate) leave.push(await this.deps.gate.joinLines(userId, plan.lockedProducts, purchaseId));
      const lockStarted = performance.now();
      // The holds' commit is not the lock's business: the units are sold once DynamoDB has the
      // purchase, and the next holder reserves from the live count, not from the holds. So the
      // commit is sent as the critical section ends and travels with the lock's release (one round
      // trip, auto-pipelined); the answer still waits for it (below, with the slot).
      const sellLocked = (held: readonly Lock[]) => {
        // Every lock of the sale is held from here: the wall time it took to get them all.
        fields.lock_acquire_ms = Math.round(performance.now() - lockStarted);
        return sell(held);
      };
      const locked = await withLocks(this.deps.locks, plan.lockedProducts.map(String), sellLocked, {
        ...this.deps.lockOptions,
        waitBudgetMs: this.lockWaitBudget(request.deadline),
        // Waiters stop as soon as any line's stock is gone instead of queueing for a lock to learn it.
        // A product the live store lost is not sold out: the reserve restores it, so only products it
        // still has are judged here.
        beforeRetry: async () => {
          const live = await this.deps.stock.peekMany(plan.lines.map((l) => l.productId));
          const shortages = shortagesOf(
            plan.lines.filter((l) => live.has(l.productId)),
            live,
          );
          if (shortages.length > 0) throw InsufficientStockError.of(shortages);
        },
      });
      Object.assign(fields, lockFields(locked.locks), { lock_release: locked.release });
      if (locked.release === 'not-held')
        this.deps.log.warn('lock expired inside the critical section', fields);
      outcome = 'purchased';
      return locked.value;
    } catch (error) {
      outcome = outcomeOf(error);
      // Nothing was bought: a retry may try again. An unknown outcome keeps the claim until the
      // reconciler has settled the holds against DynamoDB.
      if (claimed && id !== undefined && !(error instanceof PurchaseOutcomeUnknownError)) {
        await this.deps.stock.releasePurchaseClaim(id).catch(() => undefined);
      }
      if (error instanceof LockNotAcquiredError) {
        Object.assign(fields, { lock_attempts: error.attempts, lock_wait_ms: error.waitedMs });
      }
      if (error instanceof LockLostError) {
        // The durable store has seen a fence the lock's counters may not know (they were lost):
        // make the next grant's fence larger, or every later holder would be refused too.
        Object.assign(fields, { fence: error.fence, stored_fence: error.storedFence });
        await this.deps.locks.advanceFence(error.resource, error.storedFence).catch(() => undefined);
      }
      throw error;
    } finally {
      // The purchase has ended, whatever its outcome: its slot and its places in line are free.
      // (A commit never throws: one that fails is left to the reconciler.)
      if (leave.length > 0 || commits.length > 0)
        await Promise.all([...commits, ...leave.map((free) => free().catch(() => undefined))]);
      this.logOutcome(outcome, fields, started);
    }
  }

  /**
   * The live stock of the sale, its plan, and the refusals it decides at once: a product on a hot
   * deal (sold only through its orders; said before any lock wait, and the reserve script and
   * DynamoDB's condition say it again for a deal that starts meanwhile), and a shortage (sold out:
   * answered from the live store, before any lock wait and without DynamoDB).
   */
  private async planOrRefuse(items: readonly RequestedItem[], fields: Record<string, unknown>) {
    const live = await this.liveStockOfSale(items);
    const plan = planSale(items, live);
    fields.lines = plan.lines.length;
    fields.locked = plan.lockedProducts.length;
    const onDeal = [...new Set(plan.lines.map((l) => l.productId))].filter((pid) => live.get(pid)?.onDeal);
    if (onDeal.length > 0) throw new DealActiveError(onDeal);
    if (plan.shortages.length > 0) throw InsufficientStockError.of(plan.shortages);
    return plan;
  }

  /**
   * One line per purchase, except sold-out refusals: a flash crowd's refusals outnumber its sales by
   * orders of magnitude, so each is counted (the metrics the line stands for) and one in
   * `soldOutLogEvery` is written, marked with the rate it was sampled at.
   */
  private logOutcome(outcome: string, fields: Record<string, unknown>, started: number): void {
    const line = { ...fields, outcome, duration_ms: Math.round(performance.now() - started) };
    const every = this.deps.soldOutLogEvery ?? 1;
    if (outcome !== 'sold-out' || every === 1) {
      this.deps.log.info('purchase', line);
      return;
    }
    const sampled = every > 0 && this.soldOut++ % every === 0;
    if (sampled) this.deps.log.info('purchase', { ...line, sampled_one_in: every });
    else if (this.deps.log.count) this.deps.log.count('purchase', line);
  }

  /**
   * How long this request may wait in a lock line. Without a deadline: the configured budget. With
   * one: until the invocation could no longer finish the purchase, because a line behind a slow
   * holder (a GC pause, a slow DynamoDB answer, a starved CPU) still moves once the holder is done
   * or its lock expires, and a 409 there would refuse a buyer who would have been served.
   */
  private lockWaitBudget(deadline: number | undefined): number {
    const configured = this.deps.lockOptions?.waitBudgetMs ?? LOCK_DEFAULTS.waitBudgetMs;
    if (deadline === undefined) return configured;
    const untilDeadline = deadline - Date.now() - (this.deps.finishReserveMs ?? DEFAULT_FINISH_RESERVE_MS);
    return Math.max(0, Math.min(configured, untilDeadline));
  }

  /** The live stock of the requested products and of their bundles' components. */
  private async liveStockOfSale(items: readonly RequestedItem[]): Promise<Map<number, LiveStock>> {
    const live = await this.liveStock(items.map((i) => i.productId));
    const components = componentIdsOf(live);
    if (components.length > 0) for (const [pid, l] of await this.liveStock(components)) live.set(pid, l);
    return live;
  }

  /**
   * The live store's view of the products; where it has lost one (flush, failover, new cluster) it
   * is put back from DynamoDB here, as the reconciler would, so selling continues.
   */
  private async liveStock(productIds: readonly number[]): Promise<Map<number, LiveStock>> {
    const live = await this.deps.stock.peekMany(productIds);
    for (const productId of productIds.filter((pid) => !live.has(pid))) {
      const product = await this.deps.products.get(productId, true);
      if (!product) throw new ProductNotFoundError(productId);
      if (await (this.deps.restore ? this.deps.restore(product) : this.deps.stock.load(product))) {
        this.deps.log.warn('live stock restored from DynamoDB', {
          product_id: productId,
          available: product.stock,
        });
      }
      // Redis lost the product, and perhaps its lock's fence counter with it: start the counter above
      // the fence DynamoDB recorded, so the next holder's write is not refused.
      if (product.lock_fence !== undefined) {
        await this.deps.locks.advanceFence(String(productId), product.lock_fence);
      }
      const restored = await this.deps.stock.peek(productId);
      if (!restored) throw new StockUnavailableError(productId);
      live.set(productId, restored);
    }
    return live;
  }

  private async reserveAndRecord(
    id: string,
    userId: number,
    request: PurchaseRequest,
    plan: SalePlan,
    fingerprint: string | undefined,
    fences: ReadonlyMap<number, number>,
    fields: Record<string, unknown>,
    /** Where the holds' commit goes when the caller awaits it later (after the lock's release). */
    commits?: Promise<void>[],
    restored = false,
  ): Promise<PurchaseRecord> {
    const { lines } = plan;
    const reserveStarted = performance.now();
    const reserved = await this.deps.stock.reserveAll(lines, id);
    fields.reserve_ms = Math.round(performance.now() - reserveStarted);
    if (reserved.status === 'insufficient') throw InsufficientStockError.of(reserved.shortages);
    if (reserved.status === 'duplicate') throw new PurchaseInProgressError(id);
    if (reserved.status === 'deal-active') throw new DealActiveError([reserved.productId]);
    if (reserved.status === 'unknown') {
      // The live store lost a product between the plan and now: restore it and take the holds
      // again, once; a store that keeps losing data is an outage, not a race.
      if (restored) throw new StockUnavailableError(reserved.productId);
      await this.liveStock([reserved.productId]);
      return this.reserveAndRecord(id, userId, request, plan, fingerprint, fences, fields, commits, true);
    }

    const [first] = plan.items;
    const purchase: PurchaseRecord = {
      id,
      user_id: userId,
      items: plan.items,
      lines: lines.map((l) => ({ product_id: l.productId, quantity: l.quantity })),
      ...(request.single && first && { product_id: first.product_id, quantity: first.quantity }),
      total_price: plan.items.reduce((sum, item) => sum + item.total_price, 0),
      purchased_at: this.now().toISOString(),
      ...(fingerprint && { request_fingerprint: fingerprint }),
    };
    // A sharded product's hold names the shards its units came from: the durable write goes there.
    // The caps the sale saw go too: DynamoDB counts the buyer's units of each capped product.
    return recordAndSettle(this.deps, purchase, lines, fences, fields, reserved.takes, plan.caps, commits);
  }
}

/** Each locked product's fence, for the durable write's condition. */
function fencesOf(locks: readonly Lock[]): Map<number, number> {
  return new Map(locks.map((lock) => [Number(lock.resource), lock.fence]));
}

function lockFields(locks: readonly Lock[]) {
  const attempts = locks.reduce((sum, l) => sum + l.attempts, 0);
  return {
    lock_attempts: attempts,
    lock_retries: attempts - locks.length,
    lock_wait_ms: locks.reduce((sum, l) => sum + l.waitedMs, 0),
  };
}

function outcomeOf(error: unknown): string {
  if (error instanceof InsufficientStockError) return 'sold-out';
  if (error instanceof LockNotAcquiredError) return 'lock-conflict';
  if (error instanceof LockLostError) return 'lock-lost';
  if (error instanceof ProductNotFoundError) return 'not-found';
  if (error instanceof PurchaseInProgressError) return 'in-progress';
  if (error instanceof IdempotencyKeyReusedError) return 'key-reused';
  if (error instanceof TooManyRequestsError) return 'limited';
  if (error instanceof DealActiveError) return 'deal-active';
  if (error instanceof StockTooSpreadError) return 'too-spread';
  if (error instanceof PurchaseLimitError) return 'purchase-limit';
  return 'error';
}
