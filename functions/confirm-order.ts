import { endpoint, orderView, schemas } from '#shared/http';

export const handler = endpoint(
  'confirm-order',
  { params: schemas.orderIdParams },
  async ({ params, caller, services }) => orderView(await services.orders.confirm(caller.userId, params.id)),
);
