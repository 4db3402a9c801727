/**
 * A buyer's own purchases and orders: reads of one DynamoDB table each. Apart from the stock and
 * hot-deal providers so these functions bundle no Redis client.
 */
import { OrderHistory } from '../orders/history.ts';
import { PurchaseHistory } from '../stock/history.ts';
import { orderTable, purchaseTable } from './dynamodb.ts';
import { provider } from './provider.ts';

export const purchaseHistory = provider(
  'purchase-history',
  {},
  [purchaseTable],
  async () => new PurchaseHistory(await purchaseTable.get()),
);

export const orderHistory = provider(
  'order-history',
  {},
  [orderTable],
  async () => new OrderHistory(await orderTable.get()),
);
