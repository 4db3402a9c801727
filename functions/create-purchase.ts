import { endpoint, purchaseView, schemas } from '#shared/http';

export const handler = endpoint(
  'create-purchase',
  { body: schemas.purchaseBody, headers: schemas.idempotencyHeaders },
  async ({ body, headers, caller, services }) =>
    purchaseView(
      await services.purchases.purchase({
        userId: caller.userId,
        productId: body.product_id,
        quantity: body.quantity,
        idempotencyKey: headers['idempotency-key'],
      }),
    ),
);
