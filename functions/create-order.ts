import { endpoint, orderView, schemas } from '#shared/http';
import { orderService } from '#shared/wiring/hotdeal';

export const handler = endpoint(
  'create-order',
  { body: schemas.orderBody },
  { orders: orderService },
  async ({ body, caller, services }) =>
    orderView(
      await services.orders.create({
        userId: caller.userId,
        productId: body.product_id,
        quantity: body.quantity,
      }),
    ),
);
