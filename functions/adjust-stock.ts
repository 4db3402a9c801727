import { actorOf, endpoint, schemas } from '#shared/http';
import { stockAdjustments } from '#shared/wiring/stock';

export const handler = endpoint(
  'adjust-stock',
  { params: schemas.idParams, body: schemas.stockAdjustmentBody },
  { adjustments: stockAdjustments },
  ({ params, body, caller, services }) =>
    services.adjustments.adjust(params.id, body.delta, body.reason, actorOf(caller)),
);
