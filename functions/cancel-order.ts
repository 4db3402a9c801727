import { endpoint, orderView, schemas } from '#shared/http';
import { orderSettlement } from '#shared/wiring/hotdeal';

export const handler = endpoint(
  'cancel-order',
  { params: schemas.orderIdParams },
  { orders: orderSettlement },
  async ({ params, caller, services }) => orderView(await services.orders.cancel(caller.userId, params.id)),
);
