import { endpoint, productView, schemas } from '#shared/http';
import { productReads } from '#shared/wiring/stock';

export const handler = endpoint(
  'list-products',
  { query: schemas.pageQuery },
  { products: productReads },
  async ({ query, services }) => (await services.products.list(query.skip, query.limit)).map(productView),
);
