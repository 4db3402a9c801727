/**
 * Checks known to fail, as `<scenario>/<check name>` → what was seen and where it is being fixed. A
 * known failure is shown as such in the scenario's report and does not fail `npm run chaos`;
 * anything else that fails does. A known failure that no longer fails is reported as a pass, so
 * remove its entry when the fix lands.
 */
const HOT_DEAL_FAILOVER =
  'issue 10, item 4 (hot deals, shared/orders): after a failover that lost the last writes, the promoted Redis has the deal product with its pre-failover stock and without the reservations made in the lost window; new orders reserve those units again, so more orders are PENDING or CONFIRMED than there are units, a PENDING order answers 400 INSUFFICIENT_STOCK to its confirm, and Redis shows units DynamoDB no longer has (the repair leaves a product with reservations alone)';

export const knownFailures: ReadonlyMap<string, string> = new Map<string, string>([
  ['replica-promotion/every 202 is confirmable or expired, none sold twice', HOT_DEAL_FAILOVER],
  ['replica-promotion/Redis = DynamoDB after one reconcile', HOT_DEAL_FAILOVER],
]);
