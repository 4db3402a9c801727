import type { ScheduledHandler } from 'aws-lambda';
import { logger } from '#shared/logger';
import { services } from '#shared/services';

/** EventBridge, every minute: restore lost Redis stock, settle stale holds, repair drift. */
export const handler: ScheduledHandler = async () => {
  const summary = await (await services()).reconciler.reconcileAll();
  logger.info('reconcile finished', { ...summary });
};
