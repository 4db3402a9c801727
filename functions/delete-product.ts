import { actorOf, endpoint, schemas } from '#shared/http';
import { productAdmin } from '#shared/wiring/stock';

export const handler = endpoint(
  'delete-product',
  { params: schemas.idParams },
  { products: productAdmin },
  ({ params, caller, services }) => services.products.remove(params.id, actorOf(caller)),
);
