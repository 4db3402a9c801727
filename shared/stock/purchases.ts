/**
 * The purchase use-case. Redis is the fast gate (it refuses sold-out buyers without touching
 * DynamoDB); DynamoDB's conditional transaction is the final word (it can never go below zero).
 *
 *   lock:   lock the product → reserve (Lua hold) → durable write → commit hold → release lock
 *   atomic: reserve (Lua hold) → durable write → commit hold; the Lua script alone serializes buyers
 *
 * Every exit leaves `initial = available + held + durable` true: a refused write releases its hold,
 * an unknown outcome leaves the hold for the reconciler to settle against DynamoDB.
 */
import { createHash } from 'node:crypto';
import { ulid } from 'ulid';
import type { PurchaseRecord } from '../db/purchases.ts';
import {
  type AcquireOptions,
  type DistributedLock,
  type Lock,
  LockNotAcquiredError,
  withLock,
} from '../lock/index.ts';
import {
  IdempotencyKeyReusedError,
  InsufficientStockError,
  ProductNotFoundError,
  PurchaseInProgressError,
  PurchaseNotRecordedError,
  PurchaseOutcomeUnknownError,
} from './errors.ts';
import type { EventLog, ProductStore, PurchaseStore } from './ports.ts';
import type { LiveStock, RedisStock } from './redis-stock.ts';

export interface PurchaseRequest {
  readonly userId: number;
  readonly productId: number;
  readonly quantity: number;
  /** Makes the purchase id a function of (user, key): a retry finds the first outcome. */
  readonly idempotencyKey?: string | undefined;
}

export interface PurchaseDeps {
  readonly stock: RedisStock;
  readonly locks: DistributedLock;
  readonly products: Pick<ProductStore, 'get'>;
  readonly purchases: Pick<PurchaseStore, 'record' | 'get'>;
  readonly log: EventLog;
  /** Wait budget, TTL and backoff of the product lock (the `lock` strategy). */
  readonly lockOptions?: Omit<AcquireOptions, 'beforeRetry'>;
  readonly now?: () => Date;
}

/** The purchase id for an Idempotency-Key: the same user and key always give the same id. */
export function purchaseIdFor(userId: number, idempotencyKey: string): string {
  return `idem-${createHash('sha256').update(`${userId}\n${idempotencyKey}`).digest('base64url').slice(0, 27)}`;
}

/** What a retry must repeat exactly to be the same request. */
export function requestFingerprint(productId: number, quantity: number): string {
  return createHash('sha256')
    .update(JSON.stringify({ product_id: productId, quantity }))
    .digest('base64url');
}

export class PurchaseService {
  private readonly now: () => Date;

  constructor(private readonly deps: PurchaseDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async purchase(request: PurchaseRequest): Promise<PurchaseRecord> {
    const { userId, productId, quantity, idempotencyKey } = request;
    const fingerprint = idempotencyKey === undefined ? undefined : requestFingerprint(productId, quantity);
    const id = idempotencyKey === undefined ? ulid() : purchaseIdFor(userId, idempotencyKey);
    const started = performance.now();
    const fields: Record<string, unknown> = {
      purchase_id: id,
      product_id: productId,
      quantity,
      user_id: userId,
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
      const live = await this.liveStock(productId);
      fields.strategy = live.strategy;
      // Sold out: answer from Redis at once, before any lock wait and without touching DynamoDB.
      if (live.available < quantity) throw new InsufficientStockError(productId, quantity, live.available);

      const sell = () =>
        this.reserveAndRecord({ id, userId, productId, quantity, price: live.price, fingerprint });
      if (live.strategy === 'atomic') {
        const purchase = await sell();
        outcome = 'purchased';
        return purchase;
      }
      const locked = await withLock(this.deps.locks, String(productId), sell, {
        ...this.deps.lockOptions,
        // Waiters stop as soon as the stock is gone instead of queueing for a lock to learn it.
        beforeRetry: async () => {
          const now = await this.deps.stock.peek(productId);
          if (now && now.available < quantity)
            throw new InsufficientStockError(productId, quantity, now.available);
        },
      });
      Object.assign(fields, lockFields(locked.lock), { lock_release: locked.release });
      if (locked.release === 'not-held')
        this.deps.log.warn('lock expired inside the critical section', fields);
      outcome = 'purchased';
      return locked.value;
    } catch (error) {
      outcome = outcomeOf(error);
      if (error instanceof LockNotAcquiredError)
        Object.assign(fields, { lock_attempts: error.attempts, lock_wait_ms: error.waitedMs });
      throw error;
    } finally {
      this.deps.log.info('purchase', {
        ...fields,
        outcome,
        duration_ms: Math.round(performance.now() - started),
      });
    }
  }

  /**
   * Redis's view of the product; when Redis has lost it (flush, failover, new cluster) it is put back
   * from DynamoDB here, as the reconciler would, so selling continues.
   */
  private async liveStock(productId: number): Promise<LiveStock> {
    const live = await this.deps.stock.peek(productId);
    if (live) return live;
    const product = await this.deps.products.get(productId, true);
    if (!product) throw new ProductNotFoundError(productId);
    if (await this.deps.stock.load(product)) {
      this.deps.log.warn('live stock restored from DynamoDB', {
        product_id: productId,
        available: product.stock,
      });
    }
    const restored = await this.deps.stock.peek(productId);
    if (!restored) throw new ProductNotFoundError(productId);
    return restored;
  }

  private async reserveAndRecord(sale: {
    id: string;
    userId: number;
    productId: number;
    quantity: number;
    price: number;
    fingerprint: string | undefined;
  }): Promise<PurchaseRecord> {
    const { id, productId, quantity } = sale;
    const reserved = await this.deps.stock.reserve(productId, quantity, id);
    if (reserved.status === 'insufficient')
      throw new InsufficientStockError(productId, quantity, reserved.available);
    if (reserved.status === 'duplicate') throw new PurchaseInProgressError(id);
    if (reserved.status === 'unknown') {
      // Redis lost the product between the first read and now; restore it and take the hold again.
      await this.liveStock(productId);
      return this.reserveAndRecord(sale);
    }

    const purchase: PurchaseRecord = {
      id,
      user_id: sale.userId,
      product_id: productId,
      quantity,
      total_price: sale.price * quantity,
      purchased_at: this.now().toISOString(),
      ...(sale.fingerprint && { request_fingerprint: sale.fingerprint }),
    };
    let recorded: Awaited<ReturnType<PurchaseStore['record']>>;
    try {
      recorded = await this.deps.purchases.record(purchase);
    } catch (error) {
      return this.settleFailedWrite(purchase, error);
    }

    if (recorded === 'recorded') {
      await this.commitHold(productId, id);
      return purchase;
    }
    await this.deps.stock.release(productId, id);
    if (recorded === 'duplicate') {
      // A retry with the same Idempotency-Key got here after the first one finished.
      const earlier = await this.deps.purchases.get(id);
      if (!earlier) throw new PurchaseInProgressError(id);
      return replay(earlier, sale.fingerprint);
    }
    // DynamoDB holds less than Redis believed (Redis was restored ahead of in-flight writes).
    this.deps.log.warn('durable stock refused a sale Redis allowed', {
      product_id: productId,
      purchase_id: id,
    });
    throw new InsufficientStockError(productId, quantity, 0);
  }

  /** The purchase is durable; a Redis failure here only delays dropping the hold (the reconciler will). */
  private async commitHold(productId: number, holdId: string): Promise<void> {
    try {
      await this.deps.stock.commit(productId, holdId);
    } catch (error) {
      this.deps.log.error('hold not committed; the reconciler will', {
        product_id: productId,
        purchase_id: holdId,
        error,
      });
    }
  }

  /**
   * The transaction threw: it may or may not have been applied. Ask DynamoDB; release the hold only
   * when the purchase is certainly absent, and leave it to the reconciler when even that is unknown.
   */
  private async settleFailedWrite(purchase: PurchaseRecord, error: unknown): Promise<PurchaseRecord> {
    let existing: PurchaseRecord | null;
    try {
      existing = await this.deps.purchases.get(purchase.id);
    } catch {
      this.deps.log.error('purchase outcome unknown; hold left to the reconciler', {
        purchase_id: purchase.id,
        error,
      });
      throw new PurchaseOutcomeUnknownError(purchase.id, { cause: error });
    }
    if (existing) {
      await this.commitHold(purchase.product_id, purchase.id);
      return existing;
    }
    await this.deps.stock.release(purchase.product_id, purchase.id);
    this.deps.log.error('durable write failed; hold released', { purchase_id: purchase.id, error });
    throw new PurchaseNotRecordedError(purchase.id, { cause: error });
  }
}

function replay(earlier: PurchaseRecord, fingerprint: string | undefined): PurchaseRecord {
  if (earlier.request_fingerprint !== fingerprint) throw new IdempotencyKeyReusedError(earlier.id);
  return earlier;
}

function lockFields(lock: Lock) {
  return { lock_attempts: lock.attempts, lock_retries: lock.attempts - 1, lock_wait_ms: lock.waitedMs };
}

function outcomeOf(error: unknown): string {
  if (error instanceof InsufficientStockError) return 'sold-out';
  if (error instanceof LockNotAcquiredError) return 'lock-conflict';
  if (error instanceof ProductNotFoundError) return 'not-found';
  if (error instanceof PurchaseInProgressError) return 'in-progress';
  if (error instanceof IdempotencyKeyReusedError) return 'key-reused';
  return 'error';
}
