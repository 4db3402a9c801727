/** The hot-deal capability's providers: the live deal state, the deal-aware restore, orders, deals. */
import { DealService } from '../orders/deals.ts';
import { OrderService } from '../orders/orders.ts';
import { DealRestore } from '../orders/restore.ts';
import { auditTable, orderTable, productTable } from './dynamodb.ts';
import { saleLog } from './metrics.ts';
import { provider } from './provider.ts';
import { liveDeals, liveStock, redisClient } from './redis.ts';
import { settings } from './settings.ts';

/** Puts back a product the live store lost, rebuilding an open deal's reservations from its orders. */
export const dealRestore = provider(
  'deal-restore',
  {},
  [redisClient, productTable, orderTable],
  async () =>
    new DealRestore({
      deals: await liveDeals.get(),
      stock: await liveStock.get(),
      products: await productTable.get(),
      orders: await orderTable.get(),
      log: saleLog,
    }),
);

export const orderService = provider('orders', {}, [liveDeals, orderTable, dealRestore], async () => {
  const restore = await dealRestore.get();
  return new OrderService({
    deals: await liveDeals.get(),
    orders: await orderTable.get(),
    restore: (productId) => restore.restoreById(productId),
    log: saleLog,
  });
});

/** Cancel (and expire) only: no reservation is taken, so no product is ever restored. */
export const orderSettlement = provider(
  'order-settlement',
  {},
  [liveDeals, orderTable],
  async () =>
    new OrderService({ deals: await liveDeals.get(), orders: await orderTable.get(), log: saleLog }),
);

/** Starting and ending a deal write their audit rows with the deal's state. */
export const dealService = provider(
  'deals',
  {},
  [liveDeals, productTable, orderTable, orderService, dealRestore, auditTable],
  async () =>
    new DealService({
      deals: await liveDeals.get(),
      stock: await liveStock.get(),
      products: await productTable.get(),
      orders: await orderTable.get(),
      orderService: await orderService.get(),
      restorer: await dealRestore.get(),
      log: saleLog,
      holdStaleAfterMs: settings().HOLD_STALE_AFTER_MS,
      defaultMaxPerUser: settings().HOTDEAL_DEFAULT_MAX_PER_USER,
    }),
);
