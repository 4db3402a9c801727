import { endpoint, orderView, schemas } from '#shared/http';
import { orderService } from '#shared/wiring/hotdeal';

export const handler = endpoint(
  'confirm-order',
  { params: schemas.orderIdParams },
  { orders: orderService },
  async ({ params, caller, services }) => orderView(await services.orders.confirm(caller.userId, params.id)),
);
