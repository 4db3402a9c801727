import { endpoint, schemas } from '#shared/http';
import { productReads } from '#shared/wiring/stock';

export const handler = endpoint(
  'get-product-stock',
  { params: schemas.idParams },
  { products: productReads },
  ({ params, services }) => services.products.stockOf(params.id),
);
