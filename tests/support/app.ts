/**
 * The service's own providers (shared/wiring), gathered for tests that reach past HTTP: to make an
 * admin, run the reconciler, or read a table while requests are in flight. Each is the same
 * instance the in-process handlers use.
 */
import { accountService } from '../../shared/wiring/auth.ts';
import { productTable, purchaseTable } from '../../shared/wiring/dynamodb.ts';
import { dealService, orderService } from '../../shared/wiring/hotdeal.ts';
import { redisClient } from '../../shared/wiring/redis.ts';
import { reconciler } from '../../shared/wiring/stock.ts';

export async function services() {
  const [redis, accounts, products, purchases, inventory, orders, deals] = await Promise.all([
    redisClient.get(),
    accountService.get(),
    productTable.get(),
    purchaseTable.get(),
    reconciler.get(),
    orderService.get(),
    dealService.get(),
  ]);
  return {
    redis,
    accounts,
    productTable: products,
    purchaseHistory: purchases,
    reconciler: inventory,
    orders,
    deals,
  };
}
