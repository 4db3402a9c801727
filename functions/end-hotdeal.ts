import { endpoint, schemas } from '#shared/http';

export const handler = endpoint('end-hotdeal', { params: schemas.idParams }, ({ params, services }) =>
  services.deals.end(params.id),
);
