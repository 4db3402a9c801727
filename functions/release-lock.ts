import { actorOf, endpoint, schemas } from '#shared/http';
import { lockAdmin } from '#shared/wiring/admin';

export const handler = endpoint(
  'release-lock',
  { params: schemas.lockParams },
  { locks: lockAdmin },
  ({ params, caller, services }) => services.locks.forceRelease(params.product_id, actorOf(caller)),
);
