import { endpoint, productView, schemas } from '#shared/http';
import { productReads } from '#shared/wiring/stock';

export const handler = endpoint(
  'get-product',
  { params: schemas.idParams },
  { products: productReads },
  async ({ params, services }) => productView(await services.products.get(params.id)),
);
