/**
 * `npm run reconcile`: one reconciliation pass (what the scheduled Lambda does every minute), then
 * the full audit. `npm run reconcile -- --verify-only` audits without repairing. Exits 1 when the
 * audit finds an inconsistency, so scripts and load tests can use it as a verdict.
 */
import { services } from '../shared/services.ts';

const app = await services();
try {
  if (!process.argv.includes('--verify-only')) {
    console.log(JSON.stringify({ reconcile: await app.reconciler.reconcileAll() }));
  }
  const audit = await app.reconciler.verify();
  console.log(JSON.stringify(audit, null, 2));
  process.exitCode = audit.consistent ? 0 : 1;
} finally {
  app.redis.disconnect();
}
