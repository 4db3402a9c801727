import { endpoint, orderView } from '#shared/http';

export const handler = endpoint('list-my-orders', {}, async ({ caller, services }) =>
  (await services.orders.listMine(caller.userId)).map(orderView),
);
