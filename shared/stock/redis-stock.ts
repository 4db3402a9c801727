/**
 * Live stock in Redis: the fast gate in front of DynamoDB. Wraps the Lua in scripts.ts and turns its
 * integer codes into typed results.
 */
import type { Redis } from 'ioredis';

export type PurchaseStrategy = 'lock' | 'atomic';

/** `stock:{42}` and `holds:{42}` share the hash tag, so one script may touch both on Redis Cluster. */
export const stockKey = (productId: number) => `stock:{${productId}}`;
export const holdsKey = (productId: number) => `holds:{${productId}}`;

export interface LiveStock {
  readonly available: number;
  readonly price: number;
  readonly strategy: PurchaseStrategy;
}

export interface StockSeed {
  readonly id: number;
  readonly stock: number;
  readonly price: number;
  readonly strategy: PurchaseStrategy;
}

export type ReserveResult =
  | { readonly status: 'reserved'; readonly available: number }
  | { readonly status: 'insufficient'; readonly available: number }
  /** Redis has no stock for this product: never created, or Redis lost it. */
  | { readonly status: 'unknown' }
  /** A hold with this id exists: the same purchase is already in flight. */
  | { readonly status: 'duplicate'; readonly available: number };

export type ReleaseResult = 'released' | 'no-hold' | 'stock-missing';
export type RepairResult = 'repaired' | 'in-flight' | 'changed' | 'missing';

export interface Hold {
  readonly holdId: string;
  readonly quantity: number;
  readonly heldAt: number;
  readonly ageMs: number;
}

const RESERVE_CODES = { 1: 'reserved', 0: 'insufficient', [-1]: 'unknown', [-2]: 'duplicate' } as const;
const RELEASE_CODES = { 1: 'released', 0: 'no-hold', 2: 'stock-missing' } as const;
const REPAIR_CODES = { 1: 'repaired', 0: 'in-flight', [-1]: 'changed', [-2]: 'missing' } as const;

function decode<T>(table: Record<number, T>, code: number, script: string): T {
  const value = table[code];
  if (value === undefined) throw new Error(`${script} returned unknown code ${code}`);
  return value;
}

export class RedisStock {
  constructor(private readonly redis: Redis) {}

  /** Set a product's live stock if Redis does not have it. Returns false when it was already there. */
  async load(seed: StockSeed): Promise<boolean> {
    return (await this.redis.stockLoad(stockKey(seed.id), seed.stock, seed.price, seed.strategy)) === 1;
  }

  async peek(productId: number): Promise<LiveStock | null> {
    const [available, price, strategy] = await this.redis.hmget(
      stockKey(productId),
      'available',
      'price',
      'strategy',
    );
    if (available === null || available === undefined) return null;
    return {
      available: Number(available),
      price: Number(price),
      strategy: strategy === 'atomic' ? 'atomic' : 'lock',
    };
  }

  /** Available units of many products in one round trip; null where Redis has none. */
  async availableOf(productIds: readonly number[]): Promise<Map<number, number | null>> {
    if (productIds.length === 0) return new Map();
    const pipeline = this.redis.pipeline();
    for (const id of productIds) pipeline.hget(stockKey(id), 'available');
    const replies = (await pipeline.exec()) ?? [];
    return new Map(
      productIds.map((id, i) => {
        const [error, value] = replies[i] ?? [null, null];
        if (error) throw error;
        return [id, value === null ? null : Number(value)];
      }),
    );
  }

  async reserve(productId: number, quantity: number, holdId: string): Promise<ReserveResult> {
    const [code, available] = await this.redis.stockReserve(
      stockKey(productId),
      holdsKey(productId),
      quantity,
      holdId,
    );
    const status = decode(RESERVE_CODES, code, 'stockReserve');
    return status === 'unknown' ? { status } : { status, available };
  }

  /** The units are sold for good: drop the hold. False when there was none (already settled). */
  async commit(productId: number, holdId: string): Promise<boolean> {
    return (await this.redis.hdel(holdsKey(productId), holdId)) === 1;
  }

  async release(productId: number, holdId: string): Promise<ReleaseResult> {
    return decode(
      RELEASE_CODES,
      await this.redis.stockRelease(stockKey(productId), holdsKey(productId), holdId),
      'stockRelease',
    );
  }

  async holds(productId: number): Promise<Hold[]> {
    const [now, flat] = await this.redis.stockHolds(holdsKey(productId));
    const holds: Hold[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const [quantity, heldAt] = String(flat[i + 1])
        .split(':')
        .map(Number);
      holds.push({
        holdId: String(flat[i]),
        quantity: quantity ?? 0,
        heldAt: heldAt ?? now,
        ageMs: now - (heldAt ?? now),
      });
    }
    return holds;
  }

  async repair(productId: number, observed: number, target: number): Promise<RepairResult> {
    const code = await this.redis.stockRepair(
      stockKey(productId),
      holdsKey(productId),
      String(observed),
      target,
    );
    return decode(REPAIR_CODES, code, 'stockRepair');
  }
}
