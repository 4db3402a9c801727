import { endpoint, reconcileView } from '#shared/http';
import { inventoryAudit } from '#shared/wiring/stock';

export const handler = endpoint('verify-inventory', {}, { audit: inventoryAudit }, async ({ services }) => ({
  ...(await services.audit.verify()),
  last_reconcile: reconcileView(await services.audit.lastPass()),
}));
