import { endpoint, productView, schemas } from '#shared/http';
import { productService } from '#shared/wiring/stock';

export const handler = endpoint(
  'get-product',
  { params: schemas.idParams },
  { products: productService },
  async ({ params, services }) => productView(await services.products.get(params.id)),
);
