import { endpoint, orderView } from '#shared/http';
import { orderHistory } from '#shared/wiring/history';

export const handler = endpoint(
  'list-my-orders',
  {},
  { orders: orderHistory },
  async ({ caller, services }) => (await services.orders.listMine(caller.userId)).map(orderView),
);
