/**
 * Checks known to fail, as `<scenario>/<check name>` → what was seen and where it is being fixed. A
 * known failure is shown as such in the scenario's report and does not fail `npm run chaos`;
 * anything else that fails does. A known failure that no longer fails is reported as a pass, so
 * remove its entry when the fix lands. None at present: `replica-promotion`'s "Redis = DynamoDB
 * after one reconcile" (issue 10, hot deals) was fixed in the reconciler's deal step
 * (shared/orders/deals.ts: reservations of PENDING orders Redis lost are put back).
 */
export const knownFailures: ReadonlyMap<string, string> = new Map<string, string>();
