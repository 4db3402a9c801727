import { endpoint, reconcileView, schemas } from '#shared/http';
import { inventoryAudit } from '#shared/wiring/stock';

export const handler = endpoint(
  'verify-inventory',
  { query: schemas.verifyQuery },
  { audit: inventoryAudit },
  async ({ query, services }) => ({
    ...(await services.audit.verify(query.product_id)),
    last_reconcile: reconcileView(await services.audit.lastPass()),
  }),
);
