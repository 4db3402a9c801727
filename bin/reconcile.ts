/**
 * `npm run reconcile`: one reconciliation pass (what the scheduled Lambda does every minute), then
 * the full audit. `npm run reconcile -- --verify-only` audits without repairing. Exits 1 when the
 * audit finds an inconsistency, so scripts and load tests can use it as a verdict.
 * Reads the same environment as the functions: REDIS_URL, the table names, DYNAMODB_ENDPOINT.
 */
import { config, parseConfig, required, requireResources } from '../shared/config.ts';
import { createDocumentClient, ProductRepository } from '../shared/db/index.ts';
import { scheduledFunctions } from '../shared/routes.ts';
import { redisClient } from '../shared/wiring/redis.ts';
import { reconciler } from '../shared/wiring/stock.ts';

// Locally the store id lives in the products table (npm start reads it the same way); deployed
// stages pass STORE_ID like the scheduled function gets it.
const setup = parseConfig();
if (!setup.STORE_ID && setup.STAGE === 'local') {
  const products = new ProductRepository(createDocumentClient(setup), required(setup, 'PRODUCTS_TABLE'));
  process.env.STORE_ID = await products.storeId();
}
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
