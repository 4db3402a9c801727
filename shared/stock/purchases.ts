/**
 * The purchase use-case, for one product, a cart of several, or a bundle (a product made of others).
 * Redis is the fast gate (it refuses sold-out buyers without touching DynamoDB); DynamoDB's conditional
 * transaction is the final word (it can never go below zero).
 *
 *   lock:   lock the products (ascending id) → reserve (Lua holds) → durable write → commit → release
 *   atomic: reserve (Lua holds) → durable write → commit; the Lua script alone serializes buyers
 *
 * A cart is all or nothing at every step: every line is reserved or none (one script, or ordered holds
 * with compensation on Redis Cluster), and the durable write is one transaction over every product.
 * Every exit leaves `initial = available + held + durable` true: a refused write releases its holds,
 * an unknown outcome leaves them for the reconciler to settle against DynamoDB.
 */
import { createHash } from 'node:crypto';
import { ulid } from 'ulid';
import type { ProductRecord } from '../db/products.ts';
import { MAX_LINES_PER_PURCHASE, type PurchaseItem, type PurchaseRecord } from '../db/purchases.ts';
import {
  type AcquireOptions,
  type DistributedLock,
  type Lock,
  LockNotAcquiredError,
  withLocks,
} from '../lock/index.ts';
import {
  IdempotencyKeyReusedError,
  InsufficientStockError,
  ProductNotFoundError,
  PurchaseInProgressError,
  PurchaseNotRecordedError,
  PurchaseOutcomeUnknownError,
  StockUnavailableError,
  TooManyProductsError,
} from './errors.ts';
import type { EventLog, ProductStore, PurchaseStore } from './ports.ts';
import type { LiveStock, RedisStock, Shortage, StockLine } from './redis-stock.ts';

export interface RequestedItem {
  readonly productId: number;
  readonly quantity: number;
}

export interface PurchaseRequest {
  readonly userId: number;
  /** Distinct products (the schema refuses repeats); one item for the contract's one-product body. */
  readonly items: readonly RequestedItem[];
  /** The contract's `{product_id, quantity}` body: the record echoes them. */
  readonly single?: boolean;
  /** Makes the purchase id a function of (user, key): a retry finds the first outcome. */
  readonly idempotencyKey?: string | undefined;
}

export interface PurchaseDeps {
  readonly stock: RedisStock;
  readonly locks: DistributedLock;
  readonly products: Pick<ProductStore, 'get'>;
  readonly purchases: Pick<PurchaseStore, 'record' | 'get'>;
  readonly log: EventLog;
  /**
   * Puts a product Redis lost back from DynamoDB. The hot deals' restore (shared/orders) rebuilds the
   * reservations of pending orders too; the default loads the durable stock alone.
   */
  readonly restore?: (product: ProductRecord) => Promise<boolean>;
  /** Wait budget, TTL and backoff of the product locks (the `lock` strategy). */
  readonly lockOptions?: Omit<AcquireOptions, 'beforeRetry'>;
  readonly now?: () => Date;
}

/** The purchase id for an Idempotency-Key: the same user and key always give the same id. */
export function purchaseIdFor(userId: number, idempotencyKey: string): string {
  return `idem-${createHash('sha256').update(`${userId}\n${idempotencyKey}`).digest('base64url').slice(0, 27)}`;
}

/** What a retry must repeat exactly to be the same request (item order does not matter). */
export function requestFingerprint(items: readonly RequestedItem[]): string {
  const canonical = [...items]
    .sort((a, b) => a.productId - b.productId)
    .map((i) => [i.productId, i.quantity]);
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url');
}

/** What a request takes, worked out from Redis before any lock or hold. */
interface SalePlan {
  readonly items: readonly PurchaseItem[];
  /** Units per product, bundle components included, ascending product id. */
  readonly lines: readonly StockLine[];
  readonly lockedProducts: readonly number[];
  readonly shortages: readonly Shortage[];
}

export class PurchaseService {
  private readonly now: () => Date;

  constructor(private readonly deps: PurchaseDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async purchase(request: PurchaseRequest): Promise<PurchaseRecord> {
    const { userId, items, idempotencyKey } = request;
    const fingerprint = idempotencyKey === undefined ? undefined : requestFingerprint(items);
    const id = idempotencyKey === undefined ? ulid() : purchaseIdFor(userId, idempotencyKey);
    const started = performance.now();
    const fields: Record<string, unknown> = {
      purchase_id: id,
      user_id: userId,
      product_ids: items.map((i) => i.productId),
    };
    let outcome = 'error';
    try {
      if (fingerprint) {
        const earlier = await this.deps.purchases.get(id);
        if (earlier) {
          outcome = 'replayed';
          return replay(earlier, fingerprint);
        }
      }
      const plan = await this.plan(items);
      Object.assign(fields, { lines: plan.lines.length, locked: plan.lockedProducts.length });
      // Sold out: answer from Redis at once, before any lock wait and without touching DynamoDB.
      if (plan.shortages.length > 0) throw InsufficientStockError.of(plan.shortages);

      const sell = () => this.reserveAndRecord(id, userId, request, plan, fingerprint);
      if (plan.lockedProducts.length === 0) {
        const purchase = await sell();
        outcome = 'purchased';
        return purchase;
      }
      const locked = await withLocks(this.deps.locks, plan.lockedProducts.map(String), sell, {
        ...this.deps.lockOptions,
        // Waiters stop as soon as any line's stock is gone instead of queueing for a lock to learn it.
        beforeRetry: async () => {
          const shortages = shortagesOf(
            plan.lines,
            await this.deps.stock.peekMany(plan.lines.map((l) => l.productId)),
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
      if (error instanceof LockNotAcquiredError) {
        Object.assign(fields, { lock_attempts: error.attempts, lock_wait_ms: error.waitedMs });
      }
      throw error;
    } finally {
      this.deps.log.info('purchase', {
        ...fields,
        outcome,
        duration_ms: Math.round(performance.now() - started),
      });
    }
  }

  /** Price the items, expand bundles into their components, and check every line against Redis. */
  private async plan(requested: readonly RequestedItem[]): Promise<SalePlan> {
    const live = await this.liveStock(requested.map((i) => i.productId));
    const componentIds = [...live.values()].flatMap((l) => l.components.map((c) => c.product_id));
    const missing = componentIds.filter((pid) => !live.has(pid));
    if (missing.length > 0) for (const [pid, l] of await this.liveStock(missing)) live.set(pid, l);

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
    if (units.size > MAX_LINES_PER_PURCHASE)
      throw new TooManyProductsError(units.size, MAX_LINES_PER_PURCHASE);
    const lines = [...units]
      .map(([productId, quantity]) => ({ productId, quantity }))
      .sort((a, b) => a.productId - b.productId);
    return {
      items,
      lines,
      lockedProducts: lines.filter((l) => live.get(l.productId)?.strategy === 'lock').map((l) => l.productId),
      shortages: shortagesOf(lines, live),
    };
  }

  /**
   * Redis's view of the products; where Redis has lost one (flush, failover, new cluster) it is put
   * back from DynamoDB here, as the reconciler would, so selling continues.
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
    restored = false,
  ): Promise<PurchaseRecord> {
    const { lines } = plan;
    const reserved = await this.deps.stock.reserveAll(lines, id);
    if (reserved.status === 'insufficient') throw InsufficientStockError.of(reserved.shortages);
    if (reserved.status === 'duplicate') throw new PurchaseInProgressError(id);
    if (reserved.status === 'unknown') {
      // Redis lost a product between the plan and now: restore it and take the holds again, once;
      // a Redis that keeps losing data is an outage, not a race.
      if (restored) throw new StockUnavailableError(reserved.productId);
      await this.liveStock([reserved.productId]);
      return this.reserveAndRecord(id, userId, request, plan, fingerprint, true);
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
    let recorded: Awaited<ReturnType<PurchaseStore['record']>>;
    try {
      recorded = await this.deps.purchases.record(purchase);
    } catch (error) {
      return this.settleFailedWrite(purchase, lines, error);
    }

    if (recorded.status === 'recorded') {
      await this.commitHolds(lines, id);
      return purchase;
    }
    await this.deps.stock.releaseAll(lines, id);
    if (recorded.status === 'duplicate') {
      // A retry with the same Idempotency-Key got here after the first one finished.
      const earlier = await this.deps.purchases.get(id);
      if (!earlier) throw new PurchaseInProgressError(id);
      return replay(earlier, fingerprint);
    }
    // DynamoDB holds less than Redis believed (Redis was restored ahead of in-flight writes).
    this.deps.log.warn('durable stock refused a sale Redis allowed', {
      product_ids: recorded.productIds,
      purchase_id: id,
    });
    throw InsufficientStockError.of(
      recorded.productIds.map((productId) => ({
        productId,
        requested: lines.find((l) => l.productId === productId)?.quantity ?? 0,
        available: 0,
      })),
    );
  }

  /** The purchase is durable; a Redis failure here only delays dropping the holds (the reconciler will). */
  private async commitHolds(lines: readonly StockLine[], holdId: string): Promise<void> {
    try {
      await this.deps.stock.commitAll(lines, holdId);
    } catch (error) {
      this.deps.log.error('holds not committed; the reconciler will', { purchase_id: holdId, error });
    }
  }

  /**
   * The transaction threw: it may or may not have been applied. Ask DynamoDB; release the holds only
   * when the purchase is certainly absent, and leave them to the reconciler when even that is unknown.
   */
  private async settleFailedWrite(
    purchase: PurchaseRecord,
    lines: readonly StockLine[],
    error: unknown,
  ): Promise<PurchaseRecord> {
    let existing: PurchaseRecord | null;
    try {
      existing = await this.deps.purchases.get(purchase.id);
    } catch {
      this.deps.log.error('purchase outcome unknown; holds left to the reconciler', {
        purchase_id: purchase.id,
        error,
      });
      throw new PurchaseOutcomeUnknownError(purchase.id, { cause: error });
    }
    if (existing) {
      await this.commitHolds(lines, purchase.id);
      return existing;
    }
    await this.deps.stock.releaseAll(lines, purchase.id);
    this.deps.log.error('durable write failed; holds released', { purchase_id: purchase.id, error });
    throw new PurchaseNotRecordedError(purchase.id, { cause: error });
  }
}

function shortagesOf(lines: readonly StockLine[], live: ReadonlyMap<number, LiveStock>): Shortage[] {
  return lines
    .map((l) => ({
      productId: l.productId,
      requested: l.quantity,
      available: live.get(l.productId)?.available ?? 0,
    }))
    .filter((s) => s.available < s.requested);
}

function replay(earlier: PurchaseRecord, fingerprint: string | undefined): PurchaseRecord {
  if (earlier.request_fingerprint !== fingerprint) throw new IdempotencyKeyReusedError(earlier.id);
  return earlier;
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
  if (error instanceof ProductNotFoundError) return 'not-found';
  if (error instanceof PurchaseInProgressError) return 'in-progress';
  if (error instanceof IdempotencyKeyReusedError) return 'key-reused';
  return 'error';
}
