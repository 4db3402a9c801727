import { endpoint, productView, schemas } from '#shared/http';

export const handler = endpoint('list-products', { query: schemas.pageQuery }, async ({ query, services }) =>
  (await services.products.list(query.skip, query.limit)).map(productView),
);
