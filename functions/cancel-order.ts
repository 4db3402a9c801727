import { endpoint, orderView, schemas } from '#shared/http';

export const handler = endpoint(
  'cancel-order',
  { params: schemas.orderIdParams },
  async ({ params, caller, services }) => orderView(await services.orders.cancel(caller.userId, params.id)),
);
