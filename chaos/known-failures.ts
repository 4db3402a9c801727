/**
 * Checks known to fail, as `<scenario>/<check name>` → the issue and what was seen. A known failure
 * is shown as such in the scenario's report and does not fail `npm run chaos`; anything else that
 * fails does. Remove an entry as soon as its fix lands: an entry that no longer fails is reported.
 */
export const knownFailures: ReadonlyMap<string, string> = new Map<string, string>([]);
