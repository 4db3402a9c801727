import { actorOf, endpoint, schemas } from '#shared/http';
import { dealService } from '#shared/wiring/hotdeal';

export const handler = endpoint(
  'end-hotdeal',
  { params: schemas.idParams },
  { deals: dealService },
  ({ params, caller, services }) => services.deals.end(params.id, actorOf(caller)),
);
