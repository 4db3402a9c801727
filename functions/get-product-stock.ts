import { endpoint, schemas } from '#shared/http';

export const handler = endpoint('get-product-stock', { params: schemas.idParams }, ({ params, services }) =>
  services.products.stockOf(params.id),
);
