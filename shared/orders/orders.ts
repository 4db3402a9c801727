/**
 * The order use-cases of a hot deal, in two phases:
 *   create:  one Lua script (deal window, buyer's cap, stock → reservation) → one DynamoDB transaction
 *            (PENDING order + the deal's free units + the buyer's count, the final gate) → 202
 *   confirm: (the payment callback) one DynamoDB transaction: order CONFIRMED + stock decrement + purchase
 *   cancel / expire: conditional PENDING → CANCELLED / EXPIRED; the winner releases the reservation
 * Of confirm, cancel and expire of one order exactly one wins (every change is conditional on
 * PENDING), and units go back at most once (the release deletes the reservation first).
 *
 * One clock: expires_at comes from Redis's TIME, and every decision about it (confirm, expire) is
 * taken with Redis's TIME too, in the code and in DynamoDB's condition, never the function's clock.
 */

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
import { newOrderId } from './ids.ts';
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
  readonly deals: Pick<LiveDeals, 'reserve' | 'release' | 'commit' | 'time' | 'lowerTo'>;
  readonly orders: Pick<OrderStore, 'create' | 'get' | 'listByUser' | 'settle' | 'confirm'>;
  /**
   * Puts a product Redis lost back (the deal-aware restore); false when the product does not exist.
   * Only `create` needs it; a service built only to settle orders (cancel) has none.
   */
  readonly restore?: (productId: number) => Promise<boolean>;
  readonly log: EventLog;
}

const iso = (ms: number) => new Date(ms).toISOString();

export class OrderService {
  constructor(private readonly deps: OrderDeps) {}

  async create(request: OrderRequest): Promise<OrderRecord> {
    const { userId, productId, quantity } = request;
    const id = newOrderId();
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
    }
    const at = iso(reserved.nowMs);
    const order: OrderRecord = {
      id,
      user_id: userId,
      product_id: productId,
      quantity,
      unit_price: reserved.price,
      total_price: reserved.price * quantity,
      status: 'PENDING',
      created_at: at,
      expires_at: iso(reserved.expiresAtMs),
      updated_at: at,
      deal_generation: reserved.generation,
    };
    let written: Awaited<ReturnType<OrderStore['create']>>;
    try {
      written = await this.deps.orders.create(order, reserved.maxPerUser);
    } catch (error) {
      return this.settleFailedWrite(order, error);
    }
    if (written.status === 'created') {
      this.deps.log.info('order placed', {
        order_id: id,
        product_id: productId,
        status: order.status,
        quantity,
      });
      return order;
    }
    // DynamoDB refused what Redis admitted: Redis forgot something (a flush, a failover that lost the
    // last writes, a restore that ran ahead of an order write). Nothing was reserved durably.
    await this.deps.deals.release(productId, id);
    this.deps.log.warn('durable deal state refused an order Redis admitted', {
      order_id: id,
      product_id: productId,
      refusal: written,
    });
    switch (written.status) {
      case 'insufficient': {
        // Phantom units: lower the live stock at once, so the crowd stops at Redis again.
        await this.deps.deals.lowerTo(productId, written.free).catch(() => null);
        throw new InsufficientStockError(productId, quantity, written.free);
      }
      case 'limit':
        throw new PurchaseLimitError(productId, reserved.maxPerUser, written.already, quantity);
      case 'deal-closed':
        throw new DealNotActiveError(productId);
    }
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
      // Redis's clock, the one expires_at was set by: a jump of this function's clock changes nothing.
      const now = await this.deps.deals.time();
      if (Date.parse(order.expires_at) <= now) {
        // A late confirm: expire it on the spot (its units go back) unless something else won first.
        order = (await this.expire(order)).order;
        continue;
      }
      const at = iso(now);
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
        // Cannot happen while deal_free gates the orders; kept as an answer, never a sale below zero.
        this.deps.log.error('durable stock refused a reserved order', {
          order_id: id,
          product_id: order.product_id,
        });
        throw new InsufficientStockError(order.product_id, order.quantity, 0);
      }
      const current = await this.deps.orders.get(id);
      if (!current) throw new OrderNotFoundError(id);
      order = current;
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
    if (order.status !== 'PENDING') return { won: false, order };
    const at = iso(await this.deps.deals.time());
    const won = await this.deps.orders.settle(order, to, at, to === 'EXPIRED' && !force ? at : undefined);
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
