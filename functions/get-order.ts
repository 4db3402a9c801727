import { endpoint, orderView, schemas } from '#shared/http';

export const handler = endpoint(
  'get-order',
  { params: schemas.orderIdParams },
  async ({ params, caller, services }) => orderView(await services.orders.get(caller.userId, params.id)),
);
