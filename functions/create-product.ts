import { actorOf, endpoint, productView, schemas } from '#shared/http';
import { productAdmin } from '#shared/wiring/stock';

export const handler = endpoint(
  'create-product',
  { body: schemas.createProductBody },
  { products: productAdmin },
  async ({ body, caller, services }) => productView(await services.products.create(body, actorOf(caller))),
);
