import { endpoint, schemas } from '#shared/http';
import { lockInspection } from '#shared/wiring/admin';

export const handler = endpoint(
  'get-lock',
  { params: schemas.lockParams },
  { locks: lockInspection },
  ({ params, services }) => services.locks.inspect(params.product_id),
);
