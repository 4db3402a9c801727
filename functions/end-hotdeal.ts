import { endpoint, schemas } from '#shared/http';
import { dealService } from '#shared/wiring/hotdeal';

export const handler = endpoint(
  'end-hotdeal',
  { params: schemas.idParams },
  { deals: dealService },
  ({ params, services }) => services.deals.end(params.id),
);
