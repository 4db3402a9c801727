/**
 * Checks known to fail, as `<scenario>/<check name>` → what was seen and where it is being fixed. A
 * known failure is shown as such in the scenario's report and does not fail `npm run chaos`;
 * anything else that fails does. A known failure that no longer fails is reported as a pass, so
 * remove its entry when the fix lands.
 */
const HOT_DEAL_FAILOVER =
  'issue 10, item 4 (hot deals, shared/orders): after a failover that lost the last writes, one reconcile leaves the deal product short in Redis while it has PENDING reservations (seen: Redis 0 + reserved 5 vs DynamoDB 6); too low is safe (nothing is oversold, every 202 stays confirmable) but Redis ≠ DynamoDB until the reservations are settled, because the repair leaves a product with reservations alone';

export const knownFailures: ReadonlyMap<string, string> = new Map<string, string>([
  ['replica-promotion/Redis = DynamoDB after one reconcile', HOT_DEAL_FAILOVER],
]);
