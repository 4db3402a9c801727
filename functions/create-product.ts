import { endpoint, productView, schemas } from '#shared/http';
import { productService } from '#shared/wiring/stock';

export const handler = endpoint(
  'create-product',
  { body: schemas.createProductBody },
  { products: productService },
  async ({ body, services }) => productView(await services.products.create(body)),
);
