/** A buyer's own orders: reads of the orders table alone (no live store, no other table). */
import type { OrderRecord } from '../model.ts';
import { OrderNotFoundError } from './errors.ts';
import type { OrderStore } from './ports.ts';

export class OrderHistory {
  constructor(private readonly orders: Pick<OrderStore, 'get' | 'listByUser'>) {}

  /** The caller's order; someone else's is as absent as a missing one. */
  async get(userId: number, id: string): Promise<OrderRecord> {
    const order = await this.orders.get(id);
    if (!order || order.user_id !== userId) throw new OrderNotFoundError(id);
    return order;
  }

  listMine(userId: number): Promise<OrderRecord[]> {
    return this.orders.listByUser(userId);
  }
}
