/**
 * The domain model: the records and value types every capability shares (users, products,
 * purchases, hot-deal orders, stock lines). It imports nothing of ours, so every adapter (DynamoDB,
 * Redis) and every use-case can depend on it without depending on each other.
 */

export type Role = 'user' | 'admin';

export interface UserRecord {
  readonly id: number;
  readonly username: string;
  readonly email: string | null;
  readonly password_hash: string;
  readonly role: Role;
  /**
   * Raised when the role or the password changes: a token carries the version it was issued under,
   * and admin routes refuse a token whose version is not the user's current one.
   */
  readonly token_version?: number;
  readonly created_at: string;
  readonly updated_at: string;
}

/** `lock`: a per-product lock around reserve and durable write; `atomic`: the reserve script alone. */
export type PurchaseStrategy = 'lock' | 'atomic';

/** A bundle's parts: buying one bundle takes `quantity` of each component too. */
export interface Component {
  readonly product_id: number;
  readonly quantity: number;
}

export interface ProductRecord {
  readonly id: number;
  readonly name: string;
  readonly description: string | null;
  readonly price: number;
  /** Durable stock: initial_stock minus every durable purchase, kept by the purchase transaction. */
  readonly stock: number;
  readonly initial_stock: number;
  /** Σ of every stock adjustment since creation: initial_stock + adjusted = stock + units sold. */
  readonly adjusted?: number;
  readonly strategy: PurchaseStrategy;
  /**
   * How many DynamoDB items carry the durable stock (1 to MAX_STOCK_SHARDS, fixed at creation). 1
   * (or absent): the product item itself. K > 1: K shard items, so a hot product's durable writes
   * spread over K items instead of queueing on one; `stock` is then their sum.
   */
  readonly stock_shards?: number;
  /** With stock_shards > 1, as read: each shard item's durable stock (Σ = stock − pooled). Never written. */
  readonly shard_stock?: readonly number[];
  /**
   * With stock_shards > 1, as read: the units a hot deal moved from the shard items onto the product
   * item (its `stock`), where the deal's orders take them; absent outside a deal. stock = Σ shards +
   * pooled at every moment. Never written as such.
   */
  readonly pooled_stock?: number;
  /** A bundle's parts (an "A+B+C set"): buying one takes these too, all or nothing. */
  readonly components?: readonly Component[];
  /**
   * The highest lock fence a durable purchase of this product carried (the `lock` strategy): a write
   * under a lower one comes from a holder whose lock expired, and is refused.
   */
  readonly lock_fence?: number;
  /**
   * The most units of this product one buyer may hold over all their plain purchases (a bundle's
   * components count for their products); absent: no cap. Counted in a per-(product, buyer) item
   * written in the purchase's own transaction, only while the product has a cap.
   */
  readonly max_per_user?: number;
  readonly created_at: string;
  readonly updated_at: string;
}

/** A product's hot deal, kept on the product record. */
export interface DealState {
  readonly status: 'open' | 'closed';
  readonly ends_at: string | null;
  readonly max_per_user: number | null;
  readonly reservation_ttl_seconds: number;
  readonly started_at: string;
  readonly ended_at: string | null;
  /**
   * 1 for a product's first deal, +1 for each later one. Orders, reservations and the buyers' counts
   * carry it, so nothing of an old deal can touch a new one (absent on deals older than the field: 0).
   */
  readonly generation?: number;
}

/**
 * A product with its hot deal. While a deal is open, DynamoDB is the final gate of orders as it is
 * of purchases: `deal_free` (units neither sold nor reserved by a PENDING order) never goes below
 * zero, and `deal_reserved` counts the PENDING orders' units, so `stock = deal_free + deal_reserved`.
 */
export type DealProduct = ProductRecord & {
  readonly deal?: DealState;
  readonly deal_free?: number;
  readonly deal_reserved?: number;
};

/** One thing the buyer asked for, priced. */
export interface PurchaseItem {
  readonly product_id: number;
  readonly quantity: number;
  readonly unit_price: number;
  readonly total_price: number;
}

/** Units of one product a purchase took from stock (a bundle's components included). */
export interface PurchaseLine {
  readonly product_id: number;
  readonly quantity: number;
}

export interface PurchaseRecord {
  readonly id: string;
  readonly user_id: number;
  readonly items: readonly PurchaseItem[];
  readonly lines: readonly PurchaseLine[];
  /** Set when the request named one product (the contract's body), and echoed in the answer. */
  readonly product_id?: number;
  readonly quantity?: number;
  readonly total_price: number;
  readonly purchased_at: string;
  /** Hash of the request body when an Idempotency-Key made the id; a retry must match it. */
  readonly request_fingerprint?: string;
  /**
   * The write attempt that recorded it: a resend that finds the purchase already there can tell its
   * own earlier landing (its holds are sold) from another request's.
   */
  readonly attempt?: string;
}

/**
 * DynamoDB allows 100 items per transaction: the purchase, a line row and a decrement per product,
 * so one purchase takes at most 49 distinct products.
 */
export const MAX_LINES_PER_PURCHASE = 49;

/** DynamoDB's limit on the items of one transaction (TransactWriteItems). */
export const MAX_TRANSACTION_ITEMS = 100;

export type OrderStatus = 'PENDING' | 'CONFIRMED' | 'CANCELLED' | 'EXPIRED';

/** A hot-deal order: PENDING from the 202 on, then exactly one of CONFIRMED, CANCELLED, EXPIRED. */
export interface OrderRecord {
  readonly id: string;
  readonly user_id: number;
  readonly product_id: number;
  readonly quantity: number;
  readonly unit_price: number;
  readonly total_price: number;
  readonly status: OrderStatus;
  readonly created_at: string;
  readonly expires_at: string;
  readonly updated_at: string;
  /** The generation of the deal that admitted it (DealState.generation). */
  readonly deal_generation?: number;
}

/** The most stock shards a product may have: a purchase's transaction must fit DynamoDB's 100 items. */
export const MAX_STOCK_SHARDS = 64;

/** A product's stock shard count, 1 for a product written before the field. */
export const shardsOf = (product: Pick<ProductRecord, 'stock_shards'>): number => product.stock_shards ?? 1;

/** Units taken from one stock shard of a product. */
export interface ShardTake {
  readonly shard: number;
  readonly quantity: number;
}

/**
 * `units` spread over `shards` as evenly as whole units allow, the remainder on the first shards: how
 * a sharded product's initial stock and every added unit are laid out, the same in DynamoDB and Redis.
 */
export function splitAcrossShards(units: number, shards: number): number[] {
  const base = Math.floor(units / shards);
  const remainder = units - base * shards;
  return Array.from({ length: shards }, (_, i) => base + (i < remainder ? 1 : 0));
}

/** Units of one product a purchase takes from live stock (camelCase: the use-cases' working form). */
export interface StockLine {
  readonly productId: number;
  readonly quantity: number;
}

export interface Shortage {
  readonly productId: number;
  readonly requested: number;
  readonly available: number;
}

/** What an audit entry records. */
export type AuditAction =
  | 'product.create'
  | 'product.create-undone'
  | 'product.update'
  | 'product.delete'
  | 'stock.adjust'
  | 'stock.restore'
  | 'stock.repair'
  | 'hold.commit'
  | 'hold.release'
  | 'deal.start'
  | 'deal.end'
  | 'lock.force-release'
  | 'user.role';

/**
 * One row of the audit log: who (`actor`: `user:<id>` for a person, `reconciler` for the scheduled
 * pass), when, what, how much (`delta`, units) and why. Append-only.
 */
export interface AuditEntry {
  /** A ULID: unique, and ordered by time. */
  readonly id: string;
  readonly at: string;
  readonly actor: string;
  readonly action: AuditAction;
  readonly product_id?: number;
  readonly delta?: number;
  readonly reason?: string;
  readonly detail?: Readonly<Record<string, unknown>>;
}
