/**
 * The ports of the hot-deal capability: what its use-cases need of the durable store (the orders
 * and products repositories in shared/db implement them) and of the live deal state (RedisDeals
 * implements it). The use-cases import these interfaces, never an adapter.
 */
import type { AuditEntry, DealProduct, DealState, OrderRecord, OrderStatus } from '../model.ts';

export type ConfirmOutcome = 'confirmed' | 'order-changed' | 'insufficient';

export interface OrderStore {
  /** False when an order with this id exists already. */
  create(order: OrderRecord): Promise<boolean>;
  get(id: string): Promise<OrderRecord | null>;
  listByUser(userId: number, limit?: number): Promise<OrderRecord[]>;
  listByProduct(productId: number, status?: OrderStatus): Promise<OrderRecord[]>;
  /** PENDING → `to`, only if still PENDING (and, with `expiredAt`, only if its time is up). */
  settle(id: string, to: 'CANCELLED' | 'EXPIRED', now: string, expiredAt?: string): Promise<boolean>;
  /** PENDING → CONFIRMED, the stock decrement and the purchase row, in one transaction. */
  confirm(order: OrderRecord, now: string): Promise<ConfirmOutcome>;
}

/** The products a deal runs on, with the deal's durable state. */
export interface DealProductStore {
  get(id: number, consistent?: boolean): Promise<DealProduct | null>;
  /** Open a deal unless one is open, with its audit row. False when one is. */
  openDeal(productId: number, deal: DealState, audit: AuditEntry): Promise<boolean>;
  /** Close the deal, with its audit row. */
  closeDeal(productId: number, now: string, audit: AuditEntry): Promise<void>;
}

export type OrderReserveResult =
  | {
      readonly status: 'reserved';
      readonly available: number;
      readonly expiresAtMs: number;
      readonly price: number;
    }
  | { readonly status: 'insufficient'; readonly available: number }
  | { readonly status: 'unknown' }
  | { readonly status: 'duplicate' }
  | { readonly status: 'not-active' }
  | { readonly status: 'limit'; readonly already: number; readonly limit: number };

export type ReservationReleaseResult = 'released' | 'no-reservation' | 'stock-missing';

export interface Reservation {
  readonly orderId: string;
  readonly quantity: number;
  readonly userId: number;
  readonly expiresAtMs: number;
}

export interface DealSettings {
  /** 0 = no end. */
  readonly endsAtMs: number;
  /** 0 = no cap. */
  readonly maxPerUser: number;
  readonly reservationTtlMs: number;
}

export interface DealRebuild extends DealSettings {
  readonly open: boolean;
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
  open(productId: number, settings: DealSettings): Promise<void>;
  close(productId: number): Promise<void>;
  /** Rebuild everything of a product the live store lost, unless its stock is back. True when rebuilt. */
  rebuild(productId: number, state: DealRebuild): Promise<boolean>;
}
