import { endpoint, orderView, schemas } from '#shared/http';
import { orderHistory } from '#shared/wiring/history';

export const handler = endpoint(
  'get-order',
  { params: schemas.orderIdParams },
  { orders: orderHistory },
  async ({ params, caller, services }) => orderView(await services.orders.get(caller.userId, params.id)),
);
