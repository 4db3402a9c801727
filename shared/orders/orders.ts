/**
 * The order use-cases of a hot deal, in two phases:
 *   create:  one Lua script (deal window, buyer's cap, stock → reservation) → PENDING order in DynamoDB → 202
 *   confirm: (the payment callback) one DynamoDB transaction: order CONFIRMED + stock decrement + purchase
 *   cancel / expire: conditional PENDING → CANCELLED / EXPIRED; the winner releases the reservation
 * Of confirm, cancel and expire of one order exactly one wins (every change is conditional on
 * PENDING), and units go back at most once (the release deletes the reservation first).
 */
import { ulid } from 'ulid';
import type { OrderRecord } from '../model.ts';
import { DurableOutcomeUnknownError } from '../outcome.ts';
import { InsufficientStockError, ProductNotFoundError, StockUnavailableError } from '../stock/errors.ts';
import type { EventLog } from '../stock/ports.ts';
import {
  DealNotActiveError,
  OrderExpiredError,
  OrderNotFoundError,
  OrderNotPendingError,
  OrderNotRecordedError,
  OrderOutcomeUnknownError,
  PurchaseLimitError,
} from './errors.ts';
import { OrderHistory } from './history.ts';
import type { LiveDeals, OrderStore } from './ports.ts';

export interface OrderRequest {
  readonly userId: number;
  readonly productId: number;
  readonly quantity: number;
}

/** How a settle attempt ended: this call made the change, or the order already had this status. */
export interface SettleOutcome {
  readonly won: boolean;
  readonly order: OrderRecord;
}

export interface OrderDeps {
  readonly deals: Pick<LiveDeals, 'reserve' | 'release' | 'commit'>;
  readonly orders: Pick<OrderStore, 'create' | 'get' | 'listByUser' | 'settle' | 'confirm'>;
  /**
   * Puts a product Redis lost back (the deal-aware restore); false when the product does not exist.
   * Only `create` needs it; a service built only to settle orders (cancel) has none.
   */
  readonly restore?: (productId: number) => Promise<boolean>;
  readonly log: EventLog;
  readonly now?: () => Date;
}

export class OrderService {
  private readonly now: () => Date;

  constructor(private readonly deps: OrderDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async create(request: OrderRequest): Promise<OrderRecord> {
    const { userId, productId, quantity } = request;
    const id = ulid();
    let reserved = await this.deps.deals.reserve(productId, quantity, id, userId);
    if (reserved.status === 'unknown') {
      if (!this.deps.restore) throw new StockUnavailableError(productId);
      if (!(await this.deps.restore(productId))) throw new ProductNotFoundError(productId);
      reserved = await this.deps.deals.reserve(productId, quantity, id, userId);
      if (reserved.status === 'unknown') throw new StockUnavailableError(productId);
    }
    switch (reserved.status) {
      case 'not-active':
        throw new DealNotActiveError(productId);
      case 'limit':
        throw new PurchaseLimitError(productId, reserved.limit, reserved.already, quantity);
      case 'insufficient':
        throw new InsufficientStockError(productId, quantity, reserved.available);
      case 'duplicate':
        throw new Error(`order id ${id} reserved twice`);
    }
    const at = this.now().toISOString();
    const order: OrderRecord = {
      id,
      user_id: userId,
      product_id: productId,
      quantity,
      unit_price: reserved.price,
      total_price: reserved.price * quantity,
      status: 'PENDING',
      created_at: at,
      expires_at: new Date(reserved.expiresAtMs).toISOString(),
      updated_at: at,
    };
    try {
      await this.deps.orders.create(order);
    } catch (error) {
      return this.settleFailedWrite(order, error);
    }
    this.deps.log.info('order placed', {
      order_id: id,
      product_id: productId,
      status: order.status,
      quantity,
    });
    return order;
  }

  /**
   * Mirrors the purchase's settlement (shared/stock/settlement.ts): release only when the write
   * certainly changed nothing; an unknown outcome keeps the reservation for the reconciler.
   */
  private async settleFailedWrite(order: OrderRecord, error: unknown): Promise<OrderRecord> {
    if (error instanceof DurableOutcomeUnknownError) {
      const existing = await this.deps.orders.get(order.id).catch(() => null);
      if (existing) return existing;
      this.deps.log.error('order outcome unknown; reservation left to the reconciler', {
        order_id: order.id,
        error,
      });
      throw new OrderOutcomeUnknownError(order.id, { cause: error });
    }
    await this.deps.deals.release(order.product_id, order.id);
    this.deps.log.error('order write failed; reservation released', { order_id: order.id, error });
    throw new OrderNotRecordedError(order.id, { cause: error });
  }

  /** The caller's order; someone else's is as absent as a missing one. */
  get(userId: number, id: string): Promise<OrderRecord> {
    return new OrderHistory(this.deps.orders).get(userId, id);
  }

  listMine(userId: number): Promise<OrderRecord[]> {
    return new OrderHistory(this.deps.orders).listMine(userId);
  }

  async confirm(userId: number, id: string): Promise<OrderRecord> {
    let order = await this.get(userId, id);
    for (let attempt = 0; attempt < 3; attempt++) {
      if (order.status === 'CONFIRMED') return order;
      if (order.status === 'EXPIRED') throw new OrderExpiredError(id);
      if (order.status !== 'PENDING') throw new OrderNotPendingError(id, order.status);
      const now = this.now();
      if (Date.parse(order.expires_at) <= now.getTime()) {
        // A late confirm: expire it on the spot (its units go back) unless something else won first.
        order = (await this.expire(order)).order;
        continue;
      }
      const at = now.toISOString();
      const outcome = await this.deps.orders.confirm(order, at);
      if (outcome === 'confirmed') {
        await this.commitReservation(order);
        this.deps.log.info('order confirmed', {
          order_id: id,
          product_id: order.product_id,
          status: 'CONFIRMED',
          quantity: order.quantity,
        });
        return { ...order, status: 'CONFIRMED', updated_at: at };
      }
      if (outcome === 'insufficient') {
        // DynamoDB holds less than the reservation promised (a Redis restore raced a sale). The order
        // stays PENDING and expires, returning its units.
        this.deps.log.warn('durable stock refused a reserved order', {
          order_id: id,
          product_id: order.product_id,
        });
        throw new InsufficientStockError(order.product_id, order.quantity, 0);
      }
      const current = await this.deps.orders.get(id);
      if (!current) throw new OrderNotFoundError(id);
      order = current;
      if (order.status === 'PENDING' && Date.parse(order.expires_at) > this.now().getTime()) {
        throw new Error(`order ${id} confirm refused while PENDING and unexpired`);
      }
    }
    throw new OrderNotPendingError(id, order.status);
  }

  async cancel(userId: number, id: string): Promise<OrderRecord> {
    const order = await this.get(userId, id);
    const { won, order: current } = await this.settle(order, 'CANCELLED');
    if (won || current.status === 'CANCELLED') return current;
    if (current.status === 'EXPIRED') throw new OrderExpiredError(id);
    throw new OrderNotPendingError(id, current.status);
  }

  /**
   * PENDING → EXPIRED once its time is up (or at once with `force`, when the deal ends); the winner
   * returns the units. Answers the order as it now stands.
   */
  expire(order: OrderRecord, force = false): Promise<SettleOutcome> {
    return this.settle(order, 'EXPIRED', force);
  }

  private async settle(
    order: OrderRecord,
    to: 'CANCELLED' | 'EXPIRED',
    force = false,
  ): Promise<SettleOutcome> {
    const at = this.now().toISOString();
    const won =
      order.status === 'PENDING' &&
      (await this.deps.orders.settle(order.id, to, at, to === 'EXPIRED' && !force ? at : undefined));
    if (won) {
      const released = await this.deps.deals.release(order.product_id, order.id);
      this.deps.log.info('order settled', {
        order_id: order.id,
        product_id: order.product_id,
        status: to,
        quantity: order.quantity,
        reservation: released,
      });
      return { won, order: { ...order, status: to, updated_at: at } };
    }
    const current = (await this.deps.orders.get(order.id)) ?? order;
    return { won: false, order: current };
  }

  /** The order is durable; a Redis failure here only delays dropping the reservation (the reconciler will). */
  private async commitReservation(order: OrderRecord): Promise<void> {
    try {
      await this.deps.deals.commit(order.product_id, order.id);
    } catch (error) {
      this.deps.log.error('reservation not committed; the reconciler will', { order_id: order.id, error });
    }
  }
}
