import { endpoint, productView, schemas } from '#shared/http';

export const handler = endpoint('get-product', { params: schemas.idParams }, async ({ params, services }) =>
  productView(await services.products.get(params.id)),
);
