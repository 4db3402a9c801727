/**
 * The ports of the stock capability: what its use-cases need of the durable store (DynamoDB
 * repositories in shared/db implement them), of the live stock (RedisStock implements it), and of
 * the log. The use-cases import these interfaces, never an adapter.
 */
import type {
  AuditEntry,
  Component,
  ProductRecord,
  PurchaseRecord,
  PurchaseStrategy,
  ShardTake,
  Shortage,
  StockLine,
} from '../model.ts';

/** What an admin may change of a product besides its stock. */
export interface ProductChanges {
  readonly name?: string | undefined;
  readonly description?: string | null | undefined;
  readonly price?: number | undefined;
  /** The per-buyer cap of plain purchases; null removes it. */
  readonly max_per_user?: number | null | undefined;
}

/** `changed`: a sale changed the stock since it was read; read again and retry. */
export type RemoveOutcome = 'deleted' | 'not-found' | 'deal-active' | 'changed';

export type AdjustOutcome =
  | { readonly status: 'adjusted' }
  | { readonly status: 'not-found' }
  /**
   * Removing more than the durable stock holds (`stock`: what it holds; during a hot deal, its free
   * units, those no PENDING order holds).
   */
  | { readonly status: 'insufficient'; readonly stock: number }
  /** A hot deal kept starting or ending under the write (each attempt found the other pool). */
  | { readonly status: 'busy' };

/**
 * Products in the durable store. Every change but a sale takes an audit row (AuditEntry), written in
 * the same transaction as the change.
 */
export interface ProductStore {
  nextId(): Promise<number>;
  create(product: ProductRecord, audit?: AuditEntry): Promise<void>;
  delete(id: number, audit?: AuditEntry): Promise<void>;
  get(id: number, consistent?: boolean): Promise<ProductRecord | null>;
  listAll(consistent?: boolean): Promise<ProductRecord[]>;
  /** False when the product does not exist. */
  update(id: number, changes: ProductChanges, audit: AuditEntry): Promise<boolean>;
  /** Unless a hot deal is open on it, and only while its stock is `stock`; its purchases stay. */
  remove(id: number, stock: number, audit: AuditEntry): Promise<RemoveOutcome>;
  /**
   * stock += delta and adjusted += delta, never below zero; during a hot deal deal_free += delta too,
   * never below zero (a removal takes only units no PENDING order holds). `perShard`: on a sharded
   * product, the units per shard (removed: where the live store held them; added: where they go).
   */
  adjustStock(
    id: number,
    delta: number,
    audit: AuditEntry,
    perShard?: readonly ShardTake[],
    /**
     * Whether a hot deal held the product when the caller read it: the pool tried first. Only a
     * guess to save a round trip; the write's condition decides.
     */
    onDeal?: boolean,
  ): Promise<AdjustOutcome>;
}

/** The audit log's rows for changes that are not a DynamoDB write, and whether a change landed. */
export interface AuditTrail {
  append(entry: AuditEntry): Promise<void>;
  /** Whether the row with this id exists (the change whose transaction wrote it is durable). */
  has(id: string): Promise<boolean>;
}

/**
 * The per-user sale limits (shared/limits implements them): purchases in flight per user, and one
 * place per user in a product's lock line. Each call answers the function that gives back what it
 * took, or throws the limit's error.
 */
export interface PurchaseGate {
  enter(userId: number, purchaseId: string): Promise<() => Promise<void>>;
  joinLines(userId: number, productIds: readonly number[], purchaseId: string): Promise<() => Promise<void>>;
}

/** What DynamoDB said about the purchase transaction. */
export type RecordOutcome =
  | { readonly status: 'recorded' }
  /** A purchase with this id exists (a retry with the same Idempotency-Key). */
  | { readonly status: 'duplicate' }
  /** The durable stock of these products does not cover the purchase (`durable`: what it holds). */
  | {
      readonly status: 'insufficient';
      readonly productIds: readonly number[];
      /** `shard`: the stock shard that refused, on a sharded product (`stock` is then that shard's). */
      readonly durable?: readonly {
        readonly productId: number;
        readonly stock: number;
        readonly shard?: number;
      }[];
    }
  /** A product is on a hot deal (or its end has not settled it yet): sold only through orders. */
  | { readonly status: 'deal-active'; readonly productIds: readonly number[] }
  /**
   * A newer lock holder already wrote these products: the fence this purchase carries is lower than
   * the one recorded, so its lock expired while it worked.
   */
  | {
      readonly status: 'fenced';
      readonly fences: readonly {
        readonly productId: number;
        readonly fence: number;
        readonly stored: number;
      }[];
    }
  /**
   * The units held are spread over more stock shards than one DynamoDB transaction can write (100
   * items): the last units of these sharded products sit one or two per shard. Nothing was sent.
   */
  | {
      readonly status: 'too-spread';
      readonly items: number;
      readonly productIds: readonly number[];
    }
  /** The purchase was priced from a live price that is no longer the durable one. */
  | {
      readonly status: 'price-changed';
      readonly prices: readonly { readonly productId: number; readonly price: number }[];
    }
  /**
   * The buyer's units of these products plus this purchase would pass their per-buyer caps
   * (`already`: the buyer's units so far, as DynamoDB counts them).
   */
  | {
      readonly status: 'limit';
      readonly limits: readonly {
        readonly productId: number;
        readonly limit: number;
        readonly already: number;
        readonly requested: number;
      }[];
    }
  /**
   * The purchase carried a per-buyer cap that is not the product's durable one (`cap`: the durable
   * one, null for none); `prices`: the durable prices that differ too, if any.
   */
  | {
      readonly status: 'cap-changed';
      readonly caps: readonly { readonly productId: number; readonly cap: number | null }[];
      readonly prices: readonly { readonly productId: number; readonly price: number }[];
    };

export interface PurchaseStore {
  /**
   * The purchase and every product's decrement, all or nothing; never below zero. `fences`: the lock
   * fence of each locked product; its write is refused when the product has seen a higher one.
   */
  record(
    purchase: PurchaseRecord,
    fences?: ReadonlyMap<number, number>,
    /** Per sharded product, the shards its hold took from: those shard items are decremented. */
    shards?: ReadonlyMap<number, readonly ShardTake[]>,
    /**
     * A buyer's plain purchase: the per-buyer cap of each capped product as the sale saw it (a product
     * absent here had none). Every line's cap is then part of the durable condition, and each capped
     * product's count for the buyer goes up in the same transaction, only within the cap. Absent: no
     * cap is checked or counted (writers that are not a buyer's plain purchase).
     */
    caps?: ReadonlyMap<number, number>,
  ): Promise<RecordOutcome>;
  get(id: string): Promise<PurchaseRecord | null>;
  listByUser(userId: number, limit?: number): Promise<PurchaseRecord[]>;
  unitsSold(productId: number): Promise<number>;
}

/** A product as the live store sees it. */
export interface LiveStock {
  readonly available: number;
  readonly price: number;
  readonly strategy: PurchaseStrategy;
  readonly components: readonly Component[];
  /** On a hot deal: sold only through the deal's orders until the deal's end has finished. */
  readonly onDeal?: boolean;
  /** A sharded product's available units per stock shard (Σ = available). */
  readonly shards?: readonly number[];
  /** The per-buyer cap of plain purchases; absent: none. */
  readonly maxPerUser?: number;
}

/** What the live store needs to put a product on sale. */
export interface StockSeed {
  readonly id: number;
  readonly stock: number;
  readonly price: number;
  readonly strategy: PurchaseStrategy;
  readonly components?: readonly Component[] | undefined;
  /** A sharded product's durable stock per shard: the live store keeps a counter for each. */
  readonly shard_stock?: readonly number[] | undefined;
  /** The per-buyer cap of plain purchases, carried live so a sale knows which counts to write. */
  readonly max_per_user?: number | undefined;
}

export type ReserveAllResult =
  /** `takes`: for each sharded product, the shards the hold took its units from. */
  | { readonly status: 'reserved'; readonly takes?: ReadonlyMap<number, readonly ShardTake[]> }
  | { readonly status: 'insufficient'; readonly shortages: readonly Shortage[] }
  | { readonly status: 'unknown'; readonly productId: number }
  | { readonly status: 'duplicate'; readonly productId: number }
  | { readonly status: 'deal-active'; readonly productId: number };

export type ReserveResult =
  | { readonly status: 'reserved'; readonly available: number; readonly takes?: readonly ShardTake[] }
  | { readonly status: 'insufficient'; readonly available: number }
  /** The live store has no stock for this product: never created, or it lost it. */
  | { readonly status: 'unknown' }
  /** A hold with this id exists: the same purchase is already in flight. */
  | { readonly status: 'duplicate'; readonly available: number }
  /** The product is on a hot deal: sold only through the deal's orders. */
  | { readonly status: 'deal-active' };

export type ReleaseResult = 'released' | 'no-hold' | 'stock-missing';
export type CreditResult = 'credited' | 'no-mark' | 'stock-missing';
export type RepairResult = 'repaired' | 'in-flight' | 'changed' | 'missing';

/** Units taken by a purchase in flight, not yet settled against DynamoDB. */
export interface Hold {
  readonly holdId: string;
  readonly quantity: number;
  readonly heldAt: number;
  readonly ageMs: number;
  /** On a sharded product: the shards the units came from. */
  readonly takes?: readonly ShardTake[];
}

/**
 * The live stock: the fast gate in front of DynamoDB. At every instant, per product,
 * initial stock = available + held units + units in durable purchases.
 */
export interface LiveStockStore {
  /** Put a new product on sale, overwriting whatever the store held for its id. */
  put(seed: StockSeed): Promise<void>;
  /** Put a product back on sale if the store does not have it (a restore). False when it was there. */
  load(seed: StockSeed): Promise<boolean>;
  peek(productId: number): Promise<LiveStock | null>;
  peekMany(productIds: readonly number[]): Promise<Map<number, LiveStock>>;
  availableOf(productIds: readonly number[]): Promise<Map<number, number | null>>;
  /**
   * A stock adjustment's removal: `quantity` units held under `holdId` from the product's `available`,
   * whether an ordinary sale or a hot deal sells it (never 'deal-active').
   */
  withdraw(productId: number, quantity: number, holdId: string): Promise<ReserveResult>;
  /** Every line under one hold id, or none. */
  reserveAll(lines: readonly StockLine[], holdId: string): Promise<ReserveAllResult>;
  commitAll(lines: readonly StockLine[], holdId: string): Promise<void>;
  releaseAll(lines: readonly StockLine[], holdId: string): Promise<void>;
  commit(productId: number, holdId: string): Promise<boolean>;
  /**
   * Claim a purchase id for one request (an Idempotency-Key's purchase): false when another request
   * with this id is in flight or finished within `ttlMs`. The claim outlives any request, so a retry
   * never races the first one.
   */
  claimPurchase(purchaseId: string, ttlMs: number): Promise<boolean>;
  /** Give the claim up: the request ended and nothing was bought, so a retry may try again. */
  releasePurchaseClaim(purchaseId: string): Promise<void>;
  /**
   * Lower a product's available units to what DynamoDB can still sell (`durable` minus the units in
   * flight: holds and the hashes in `inFlightKeys`). Never raises them. Returns the units now available.
   */
  lowerTo(
    productId: number,
    durable: number,
    inFlightKeys?: readonly string[],
    /** On a sharded product: `durable` is this shard's, and only its counter (and the total) is lowered. */
    shard?: number,
  ): Promise<number | null>;
  /** Set a product's live price to the durable one, if the store has the product. */
  setPrice(productId: number, price: number): Promise<void>;
  /** Set a product's live per-buyer cap to the durable one (null: none), if the store has the product. */
  setCap(productId: number, cap: number | null): Promise<void>;
  release(productId: number, holdId: string): Promise<ReleaseResult>;
  /**
   * Mark the product as having units on their way in (a 0-unit hold under `holdId`), so no repair
   * runs before `credit`. False when the store has no live stock for it.
   */
  mark(productId: number, holdId: string): Promise<boolean>;
  /** Put `delta` units on sale and drop the mark, at most once (`perShard`: a sharded product's spread). */
  credit(
    productId: number,
    holdId: string,
    delta: number,
    perShard?: readonly ShardTake[],
  ): Promise<CreditResult>;
  /** Forget a deleted product: its live count and its holds. */
  drop(productId: number): Promise<void>;
  holds(productId: number): Promise<Hold[]>;
  /**
   * Set available to `target` if it still reads `observed` and nothing is in flight: no hold, and
   * every hash named in `inFlightKeys` (another capability's in-flight units) empty.
   */
  repair(
    productId: number,
    observed: number,
    target: number,
    inFlightKeys?: readonly string[],
    /** A sharded product's durable stock per shard: each shard's counter is set to it too. */
    shardTargets?: readonly number[],
  ): Promise<RepairResult>;
}

/** Structured log lines (Powertools Logger satisfies it). */
export interface EventLog {
  info(message: string, fields: Record<string, unknown>): void;
  warn(message: string, fields: Record<string, unknown>): void;
  error(message: string, fields: Record<string, unknown>): void;
  /**
   * An event that is counted (the metrics its line would stand for) but not written: the frequent
   * ones a use-case samples, like sold-out refusals. A log without it drops the unsampled events.
   */
  count?(message: string, fields: Record<string, unknown>): void;
}
