import { endpoint, schemas } from '#shared/http';
import { productService } from '#shared/wiring/stock';

export const handler = endpoint(
  'get-product-stock',
  { params: schemas.idParams },
  { products: productService },
  ({ params, services }) => services.products.stockOf(params.id),
);
