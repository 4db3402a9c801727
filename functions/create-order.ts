import { endpoint, orderView, schemas } from '#shared/http';

export const handler = endpoint(
  'create-order',
  { body: schemas.orderBody },
  async ({ body, caller, services }) =>
    orderView(
      await services.orders.create({
        userId: caller.userId,
        productId: body.product_id,
        quantity: body.quantity,
      }),
    ),
);
