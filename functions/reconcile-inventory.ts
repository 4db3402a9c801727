import { scheduled } from '#shared/http';
import { saleLog } from '#shared/wiring/metrics';
import { reconciler } from '#shared/wiring/stock';

/** EventBridge, every minute: restore lost Redis stock, settle stale holds, repair drift. */
export const handler = scheduled('reconcile-inventory', reconciler, async (service) => {
  const summary = await service.reconcileAll();
  saleLog.info('reconcile finished', { ...summary });
});
