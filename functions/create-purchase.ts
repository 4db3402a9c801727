import { endpoint, purchaseView, schemas } from '#shared/http';
import { purchaseService } from '#shared/wiring/stock';

export const handler = endpoint(
  'create-purchase',
  { body: schemas.purchaseBody, headers: schemas.idempotencyHeaders },
  { purchases: purchaseService },
  async ({ body, headers, caller, services, deadline }) =>
    purchaseView(
      await services.purchases.purchase({
        userId: caller.userId,
        single: body.single,
        items: body.items.map((i) => ({ productId: i.product_id, quantity: i.quantity })),
        idempotencyKey: headers['idempotency-key'],
        deadline,
      }),
    ),
);
