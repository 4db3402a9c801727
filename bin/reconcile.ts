/**
 * `npm run reconcile`: one reconciliation pass (what the scheduled Lambda does every minute), then
 * the full audit. `npm run reconcile -- --verify-only` audits without repairing. Exits 1 when the
 * audit finds an inconsistency, so scripts and load tests can use it as a verdict.
 * Reads the same environment as the functions: REDIS_URL, the table names, DYNAMODB_ENDPOINT.
 */
import { config, requireResources } from '../shared/config.ts';
import { scheduledFunctions } from '../shared/routes.ts';
import { redisClient } from '../shared/wiring/redis.ts';
import { reconciler } from '../shared/wiring/stock.ts';

const [route] = scheduledFunctions;
requireResources(config(), route.uses, 'npm run reconcile');
const inventory = await reconciler.get();
try {
  if (!process.argv.includes('--verify-only')) {
    console.log(JSON.stringify({ reconcile: await inventory.reconcileAll() }));
  }
  const audit = await inventory.verify();
  console.log(JSON.stringify(audit, null, 2));
  process.exitCode = audit.consistent ? 0 : 1;
} finally {
  (await redisClient.get()).disconnect();
}
