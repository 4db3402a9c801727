/**
 * The ports of the hot-deal capability: what its use-cases need of the durable store (the orders
 * and products repositories in shared/db implement them) and of the live deal state (RedisDeals
 * implements it). The use-cases import these interfaces, never an adapter.
 */
import type { AuditEntry, DealProduct, DealState, OrderRecord, OrderStatus } from '../model.ts';

export type ConfirmOutcome = 'confirmed' | 'order-changed' | 'insufficient';

/**
 * What DynamoDB said about a new PENDING order. It is the final gate of a deal: the order lands only
 * with the deal (this generation) still open, its units among the product's free ones, and the
 * buyer's units of this deal within the cap, all in one transaction.
 */
export type CreateOutcome =
  | { readonly status: 'created' }
  /** The product's free units (deal_free) do not cover the order. */
  | { readonly status: 'insufficient'; readonly free: number }
  /** The buyer's units in this deal would pass the cap. */
  | { readonly status: 'limit'; readonly already: number }
  /** The deal this order was admitted to is closed (ended, or another generation runs). */
  | { readonly status: 'deal-closed' };

export interface OrderPage {
  readonly orders: OrderRecord[];
  /** Where the next page starts; null after the last one. */
  readonly cursor: string | null;
}

export interface OrderStore {
  /** The PENDING order, the product's free units and the buyer's count, in one transaction. */
  create(order: OrderRecord, maxPerUser: number): Promise<CreateOutcome>;
  get(id: string): Promise<OrderRecord | null>;
  listByUser(userId: number, limit?: number): Promise<OrderRecord[]>;
  /** Through the by-product index: eventually consistent, never the only source of a count. */
  listByProduct(productId: number, status?: OrderStatus): Promise<OrderRecord[]>;
  /** One page of a product's PENDING orders from `cursor` (the reconciler's bounded step). */
  pagePending(productId: number, cursor: string | null, limit: number): Promise<OrderPage>;
  /**
   * PENDING → `to`, only if still PENDING (and, with `expiredBy`, only if expires_at <= expiredBy),
   * giving its units back to the deal's free units and the buyer's count. True when this call did it.
   */
  settle(order: OrderRecord, to: 'CANCELLED' | 'EXPIRED', now: string, expiredBy?: string): Promise<boolean>;
  /** PENDING → CONFIRMED, the stock decrement and the purchase row, in one transaction. */
  confirm(order: OrderRecord, now: string): Promise<ConfirmOutcome>;
}

export type OpenDealOutcome =
  | { readonly status: 'opened'; readonly product: DealProduct }
  /** Not opened: a deal is open, or PENDING orders of the last one remain (`product` as it is). */
  | { readonly status: 'refused'; readonly product: DealProduct | null };

/** The products a deal runs on, with the deal's durable state. */
export interface DealProductStore {
  get(id: number, consistent?: boolean): Promise<DealProduct | null>;
  /**
   * Open `deal` (its generation one above `previousGeneration`) unless one is open or units of the
   * last one are still reserved: deal_free = stock from now on, and ordinary purchases are refused.
   */
  openDeal(
    productId: number,
    deal: DealState,
    previousGeneration: number,
    /** Written in the same transaction (shared/db/audit.ts). */
    audit?: AuditEntry,
  ): Promise<OpenDealOutcome>;
  /** Close deal `generation` (no order of it lands any more); a no-op when it is closed already. */
  closeDeal(productId: number, now: string, generation: number, audit?: AuditEntry): Promise<void>;
  /**
   * A sharded product's units pooled for its deal go back to its shards, once nothing is reserved
   * (a no-op otherwise, and on an unsharded product). The product as read after.
   */
  returnPool(productId: number, at: string): Promise<DealProduct | null>;
}

export type OrderReserveResult =
  | {
      readonly status: 'reserved';
      readonly available: number;
      readonly expiresAtMs: number;
      readonly price: number;
      readonly generation: number;
      /** Redis's clock at the reservation (the time base of expiresAtMs). */
      readonly nowMs: number;
      /** The deal's cap (0 = none), for DynamoDB's check of the buyer's count. */
      readonly maxPerUser: number;
    }
  | { readonly status: 'insufficient'; readonly available: number }
  | { readonly status: 'unknown' }
  | { readonly status: 'not-active' }
  | { readonly status: 'limit'; readonly already: number; readonly limit: number };

export type ReservationReleaseResult = 'released' | 'no-reservation' | 'stock-missing';

/** 'present': the live store has it already; 'stock-missing': no live stock or deal to put it in. */
export type ReservationRestoreResult = 'restored' | 'present' | 'stock-missing';

export interface Reservation {
  readonly orderId: string;
  readonly quantity: number;
  readonly userId: number;
  readonly expiresAtMs: number;
  /** The deal generation that admitted it (0 for reservations older than generations). */
  readonly generation: number;
}

export interface DealSettings {
  /** 0 = no end. */
  readonly endsAtMs: number;
  /** 0 = no cap. */
  readonly maxPerUser: number;
  readonly reservationTtlMs: number;
  readonly generation: number;
}

/** What a deal's start loads into the live store. */
export interface DealLaunch extends DealSettings {
  /** DynamoDB's deal_free, read after the deal opened there. */
  readonly free: number;
  /** The product's stock shard count: on K > 1 the shard counters are zeroed (their units are the deal's). */
  readonly shards: number;
  readonly price: number;
  readonly strategy: string;
  readonly components: string;
}

export interface DealRebuild extends DealSettings {
  readonly open: boolean;
  /** The product's stock shard count (K > 1: the shard counters are rebuilt at 0, the units pooled). */
  readonly shards: number;
  readonly available: number;
  readonly price: number;
  readonly strategy: string;
  readonly components: string;
  readonly reservations: readonly Reservation[];
  /** Units pending + confirmed per user in this deal. */
  readonly users: ReadonlyMap<number, number>;
}

/** The live side of a deal: admission, reservations and the buyers' counts, beside the live stock. */
export interface LiveDeals {
  reserve(productId: number, quantity: number, orderId: string, userId: number): Promise<OrderReserveResult>;
  release(productId: number, orderId: string): Promise<ReservationReleaseResult>;
  /** False when there was no reservation (already settled, or the live store lost it). */
  commit(productId: number, orderId: string): Promise<boolean>;
  reservations(productId: number): Promise<{ now: number; reservations: Reservation[] }>;
  /** Units held by open reservations of a product. */
  reserved(productId: number): Promise<number>;
  /** The live-store hashes whose units are in flight (a stock repair must wait for them). */
  inFlightKeys(productId: number): readonly string[];
  settings(productId: number): Promise<(DealSettings & { open: boolean }) | null>;
  /** Redis's clock (ms): the one time base of expires_at and of every decision about it. */
  time(): Promise<number>;
  /** Open a generation in one step; false when it was already (a rerun after a crash). */
  start(productId: number, launch: DealLaunch): Promise<boolean>;
  /** No new order gets in; reservations and the buyers' counts stay until settled. */
  close(productId: number): Promise<void>;
  /**
   * The deal is over and nothing is reserved: an ordinary product again, available = durable stock
   * (a sharded product's counters = `shardStock`, its durable stock per shard).
   */
  finish(productId: number, durableStock: number, shardStock?: readonly number[]): Promise<void>;
  /** The reconciler's place in a product's work, kept between passes (null: from the start). */
  cursor(productId: number, name: string): Promise<string | null>;
  setCursor(productId: number, name: string, value: string | null): Promise<void>;
  /**
   * Set available to `target` (DynamoDB's free units) if it still reads `observed`, no ordinary hold
   * exists and the reservations are exactly the orders `reservations` names (each known to be a
   * durable PENDING order).
   */
  repair(
    productId: number,
    observed: number,
    target: number,
    reservations: readonly string[],
  ): Promise<boolean>;
  /**
   * Put back the reservation of a durable PENDING order the live store lost, `available` untouched
   * (a failover lost its admission); the buyer's count with it.
   */
  restoreReservation(productId: number, reservation: Reservation): Promise<ReservationRestoreResult>;
  /** Lower available to DynamoDB's free units (never raise it); the units now available. */
  lowerTo(productId: number, free: number): Promise<number | null>;
  /** Rebuild everything of a product the live store lost, unless its stock is back. True when rebuilt. */
  rebuild(productId: number, state: DealRebuild): Promise<boolean>;
}
