/**
 * The one restore of a product the live store lost, deal-aware. Outside a deal it loads the durable
 * stock; with a deal it rebuilds from the orders: available = durable stock − Σ pending, the
 * reservations from PENDING orders, the buyers' counts from PENDING + CONFIRMED, so a reserved unit
 * is never handed out twice.
 *
 * Orders, purchases, deals and the reconciler all call it; it depends on none of them.
 */
import type { DealProduct, OrderRecord, ProductRecord } from '../model.ts';
import type { EventLog, LiveStockStore } from '../stock/ports.ts';
import type { DealProductStore, LiveDeals, OrderStore } from './ports.ts';

export interface DealRestoreDeps {
  readonly deals: Pick<LiveDeals, 'rebuild'>;
  readonly stock: Pick<LiveStockStore, 'load'>;
  readonly products: Pick<DealProductStore, 'get'>;
  readonly orders: Pick<OrderStore, 'listByProduct'>;
  readonly log: EventLog;
}

/** The orders of the product's current (or last) deal. */
export async function dealOrders(
  orders: Pick<OrderStore, 'listByProduct'>,
  product: DealProduct,
): Promise<OrderRecord[]> {
  const all = await orders.listByProduct(product.id);
  const since = product.deal?.started_at;
  return since ? all.filter((o) => o.created_at >= since) : all;
}

export class DealRestore {
  constructor(private readonly deps: DealRestoreDeps) {}

  /** Restore by id (the order path): false when the product does not exist. */
  async restoreById(productId: number): Promise<boolean> {
    const product = await this.deps.products.get(productId, true);
    if (!product) return false;
    await this.restore(product);
    return true;
  }

  /** True when this call put the product back. */
  async restore(product: ProductRecord): Promise<boolean> {
    const deal = (product as DealProduct).deal;
    if (!deal) return this.deps.stock.load(product);
    // Orders first, then the durable stock: a confirm in between makes the rebuilt stock too low by
    // its units (never too high), and the end of the deal or the next repair sets it right.
    const orders = await dealOrders(this.deps.orders, product as DealProduct);
    const durable = (await this.deps.products.get(product.id, true)) ?? product;
    const pending = orders.filter((o) => o.status === 'PENDING');
    const users = new Map<number, number>();
    for (const o of orders.filter((o) => o.status === 'PENDING' || o.status === 'CONFIRMED'))
      users.set(o.user_id, (users.get(o.user_id) ?? 0) + o.quantity);
    const reserved = pending.reduce((sum, o) => sum + o.quantity, 0);
    const available = Math.max(0, durable.stock - reserved);
    const rebuilt = await this.deps.deals.rebuild(product.id, {
      open: deal.status === 'open',
      endsAtMs: deal.ends_at ? Date.parse(deal.ends_at) : 0,
      maxPerUser: deal.max_per_user ?? 0,
      reservationTtlMs: deal.reservation_ttl_seconds * 1000,
      available,
      price: durable.price,
      strategy: durable.strategy,
      components: JSON.stringify(durable.components ?? []),
      reservations: pending.map((o) => ({
        orderId: o.id,
        quantity: o.quantity,
        userId: o.user_id,
        expiresAtMs: Date.parse(o.expires_at),
      })),
      users,
    });
    if (rebuilt) {
      this.deps.log.warn('hot deal rebuilt from DynamoDB', {
        repair: 'restore',
        product_id: product.id,
        available,
        reservations: pending.length,
      });
    }
    return rebuilt;
  }
}
