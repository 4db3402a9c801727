import { defineConfig } from 'vitest/config';

/**
 * Five projects: unit (no network), integration (real redis-server and DynamoDB Local started by
 * tests/support/global-setup.ts on free ports), cdk (template assertions and cdk-nag), load (every
 * artillery scenario at smoke scale against a private local stack, with its verdict), chaos (the
 * short form of `npm run chaos`: three faults injected into sales on real processes).
 */
export default defineConfig({
  test: {
    // The SDK's "Node 22 from 2027" notice is true and known (docs/operations.md, troubleshooting); once per worker is noise.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    // `npm test` runs unit + integration with --coverage (npm run test:covered); the cdk and load
    // projects run without it, so the numbers say what the tests of the code prove, not what a load run
    // happened to execute.
    coverage: {
      provider: 'v8',
      // The code that deploys: the functions and everything under shared/. Not bin/ (the local
      // runtime), lib/ (CDK, asserted by tests/cdk) or load/.
      include: ['shared/**/*.ts', 'functions/**/*.ts'],
      // Runs only in vitest's main process (the integration global setup), which V8 coverage of the
      // test workers cannot see; in AWS, CloudFormation creates the tables.
      exclude: ['shared/db/create-tables.ts'],
      reporter: ['text-summary', 'text'],
      // A red run still shows what it covered.
      reportOnFailure: true,
      thresholds: {
        lines: 80,
        // The core: stock and the purchase use-case (shared/stock/purchases.ts), the lock, hot-deal
        // orders. When the restructure moves them, move these globs with them.
        'shared/stock/**': { lines: 90 },
        'shared/stock/purchases.ts': { lines: 90 },
        'shared/lock/**': { lines: 90 },
        'shared/orders/**': { lines: 90 },
      },
    },
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['tests/unit/**/*.test.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          globalSetup: ['tests/support/global-setup.ts'],
          setupFiles: ['tests/support/env.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // One file at a time: the files share one Redis and one DynamoDB Local and some of them
          // flush Redis or kill servers on purpose.
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          // The short form on a real Redis Cluster (3 primaries, 3 replicas): a sale, carts and a bundle
          // across slots, a hot deal, the reconciler and the audit, a primary killed mid-sale.
          name: 'cluster',
          include: ['tests/cluster/**/*.test.ts'],
          globalSetup: ['tests/support/global-setup-cluster.ts'],
          setupFiles: ['tests/support/env.ts'],
          testTimeout: 90_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          // `npm run test:cluster`: the integration suites of sales, carts, hot deals and products on
          // the cluster. Long, so not part of `npm test` (which runs the cluster project above).
          name: 'integration-cluster',
          include: [
            'tests/integration/purchases.test.ts',
            'tests/integration/bundles.test.ts',
            'tests/integration/orders.test.ts',
            'tests/integration/products.test.ts',
            'tests/integration/stock.test.ts',
          ],
          globalSetup: ['tests/support/global-setup-cluster.ts'],
          setupFiles: ['tests/support/env.ts'],
          testTimeout: 60_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'cdk',
          include: ['tests/cdk/**/*.test.ts'],
          testTimeout: 300_000,
          // The beforeAll synthesizes (and bundles) the whole app: beside the load project on 2 cores it
          // outlasts the 10 s default.
          hookTimeout: 300_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'load',
          include: ['tests/load/**/*.test.ts'],
          // One beforeAll runs all eight smoke runs (about 80 s here); the tests read its results.
          testTimeout: 30_000,
          hookTimeout: 300_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'chaos',
          include: ['tests/chaos/**/*.test.ts'],
          // One scenario: a 12 s sale, the wait for holds to go stale (7.5 s), the reconcile and the
          // checks; a busy machine stretches it.
          testTimeout: 120_000,
          // DynamoDB Local, the runtime (every handler through tsx) and the sign-ups.
          hookTimeout: 240_000,
        },
      },
    ],
  },
});
