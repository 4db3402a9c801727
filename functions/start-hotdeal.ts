import { actorOf, endpoint, schemas } from '#shared/http';
import { dealService } from '#shared/wiring/hotdeal';

export const handler = endpoint(
  'start-hotdeal',
  { params: schemas.idParams, body: schemas.hotDealStartBody },
  { deals: dealService },
  ({ params, body, caller, services }) =>
    services.deals.start(
      params.id,
      {
        endsAt: body.ends_at,
        maxPerUser: body.max_per_user,
        reservationTtlSeconds: body.reservation_ttl_seconds,
      },
      actorOf(caller),
    ),
);
