/**
 * The hot-deal services built by hand over the test Redis and DynamoDB Local, wired as the functions
 * wire them (shared/wiring/hotdeal.ts), with seams for faults: another document client (SDK
 * middleware on it), another Redis client.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { OrderRepository, ProductRepository } from '#shared/db';
import { DealRestore, DealService, OrderService, RedisDeals } from '#shared/orders';
import { Reconciler, RedisStock } from '#shared/stock';
import type { RedisClient } from '../../shared/redis.ts';
import { quietLog, type stack } from './services.ts';

export function hotDeals(
  base: ReturnType<typeof stack>,
  options: {
    doc?: DynamoDBDocumentClient;
    redis?: RedisClient;
    holdStaleAfterMs?: number;
    reconcileBudget?: number;
  } = {},
) {
  const doc = options.doc ?? base.doc;
  const redis = options.redis ?? base.redis;
  const holdStaleAfterMs = options.holdStaleAfterMs ?? 60_000;
  const stock = options.redis ? new RedisStock(redis) : base.stock;
  const redisDeals = new RedisDeals(redis);
  const orderTable = new OrderRepository(doc, 'orders', 'products', 'purchases');
  const products = new ProductRepository(doc, 'products');
  const restorer = new DealRestore({ deals: redisDeals, stock, products, orders: orderTable, log: quietLog });
  const orders = new OrderService({
    deals: redisDeals,
    orders: orderTable,
    restore: (productId) => restorer.restoreById(productId),
    log: quietLog,
  });
  const deals = new DealService({
    deals: redisDeals,
    stock,
    products,
    orders: orderTable,
    orderService: orders,
    restorer,
    log: quietLog,
    holdStaleAfterMs,
    ...(options.reconcileBudget !== undefined && { reconcileBudget: options.reconcileBudget }),
  });
  const reconciler = new Reconciler({
    stock,
    products,
    purchases: base.purchases,
    log: quietLog,
    holdStaleAfterMs,
    deals,
    inFlight: redisDeals,
  });
  return { orders, deals, orderTable, redisDeals, reconciler, products };
}
