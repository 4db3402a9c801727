import type { ScheduledHandler } from 'aws-lambda';
import { config, requireResources } from '#shared/config';
import { logger } from '#shared/logger';
import { scheduledFunctions } from '#shared/routes';
import { reconciler } from '#shared/wiring/stock';

// Fail closed at the cold start: a missing table or Redis binding names itself here.
const [route] = scheduledFunctions;
requireResources(config(), route.uses, route.function);

/** EventBridge, every minute: restore lost Redis stock, settle stale holds, repair drift. */
export const handler: ScheduledHandler = async () => {
  const summary = await (await reconciler.get()).reconcileAll();
  logger.info('reconcile finished', { ...summary });
};
