import { actorOf, endpoint, productView, schemas } from '#shared/http';
import { productAdmin } from '#shared/wiring/stock';

export const handler = endpoint(
  'update-product',
  { params: schemas.idParams, body: schemas.updateProductBody },
  { products: productAdmin },
  async ({ params, body, caller, services }) =>
    productView(await services.products.update(params.id, body, actorOf(caller))),
);
