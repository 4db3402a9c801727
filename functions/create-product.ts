import { endpoint, productView, schemas } from '#shared/http';

export const handler = endpoint(
  'create-product',
  { body: schemas.createProductBody },
  async ({ body, services }) => productView(await services.products.create(body)),
);
