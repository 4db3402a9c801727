import { endpoint, productView, schemas } from '#shared/http';
import { productService } from '#shared/wiring/stock';

export const handler = endpoint(
  'list-products',
  { query: schemas.pageQuery },
  { products: productService },
  async ({ query, services }) => (await services.products.list(query.skip, query.limit)).map(productView),
);
