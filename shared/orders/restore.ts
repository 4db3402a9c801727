/**
 * The one restore of a product the live store lost, deal-aware. Outside a deal it loads the durable
 * stock; with a deal it rebuilds from DynamoDB: available = the product's deal_free (one consistent
 * read of the counter every order, confirm, cancel and expiry keeps in its transaction, so neither an
 * index that lags nor an order write still in flight can make it too high: such a write lands only
 * if deal_free still covers it, and then Redis shows too much, which the order's gate refuses and
 * lowers); the reservations and the buyers' counts from the orders, for expiry and the fast cap check
 * only.
 *
 * Orders, purchases, deals and the reconciler all call it; it depends on none of them.
 */
import { type DealProduct, type OrderRecord, type ProductRecord, shardsOf } from '../model.ts';
import type { EventLog, LiveStockStore } from '../stock/ports.ts';
import type { DealProductStore, LiveDeals, OrderStore } from './ports.ts';

export interface DealRestoreDeps {
  readonly deals: Pick<LiveDeals, 'rebuild'>;
  readonly stock: Pick<LiveStockStore, 'load' | 'peek' | 'setCap'>;
  readonly products: Pick<DealProductStore, 'get'>;
  readonly orders: Pick<OrderStore, 'listByProduct'>;
  readonly log: EventLog;
}

/** The orders of the product's current (or last) deal, through the index (it may lag). */
export async function dealOrders(
  orders: Pick<OrderStore, 'listByProduct'>,
  product: DealProduct,
): Promise<OrderRecord[]> {
  const all = await orders.listByProduct(product.id);
  const generation = product.deal?.generation;
  if (generation !== undefined) return all.filter((o) => (o.deal_generation ?? 0) === generation);
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
    // No deal, or one that is over and settled: an ordinary product. (A sharded product whose pool
    // has not gone back to its shards yet is rebuilt as on its deal: the end's finish, run by the
    // reconciler, returns the pool and then makes it ordinary.)
    const settled = deal?.status === 'closed' && ((product as DealProduct).deal_reserved ?? 0) <= 0;
    if (!deal || (settled && product.pooled_stock === undefined)) return this.deps.stock.load(product);
    // The live stock is there: nothing to rebuild, and no DynamoDB read (the reconciler asks every pass).
    if (await this.deps.stock.peek(product.id)) return false;
    const orders = await dealOrders(this.deps.orders, product as DealProduct);
    // The counters after the orders: whatever the listing missed, deal_free is exact as of this read.
    const durable = ((await this.deps.products.get(product.id, true)) ?? product) as DealProduct;
    const open = durable.deal?.status === 'open';
    const pending = orders.filter((o) => o.status === 'PENDING');
    const users = new Map<number, number>();
    for (const o of orders.filter((o) => o.status === 'PENDING' || o.status === 'CONFIRMED'))
      users.set(o.user_id, (users.get(o.user_id) ?? 0) + o.quantity);
    // Open, or closed with PENDING orders the end has not expired yet: the units no order holds.
    const available = durable.deal_free ?? durable.stock;
    const generation = durable.deal?.generation ?? 0;
    const rebuilt = await this.deps.deals.rebuild(product.id, {
      open,
      endsAtMs: deal.ends_at ? Date.parse(deal.ends_at) : 0,
      maxPerUser: deal.max_per_user ?? 0,
      reservationTtlMs: deal.reservation_ttl_seconds * 1000,
      generation,
      shards: shardsOf(durable),
      available: Math.max(0, available),
      price: durable.price,
      strategy: durable.strategy,
      components: JSON.stringify(durable.components ?? []),
      reservations: pending.map((o) => ({
        orderId: o.id,
        quantity: o.quantity,
        userId: o.user_id,
        expiresAtMs: Date.parse(o.expires_at),
        generation: o.deal_generation ?? 0,
      })),
      users,
    });
    if (rebuilt) {
      // The product's own per-buyer cap for plain purchases (after the deal), as stockLoad writes it:
      // without it the first plain sale would be refused once by the durable cap and retried.
      if (durable.max_per_user) await this.deps.stock.setCap(product.id, durable.max_per_user);
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
