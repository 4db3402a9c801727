import { defineConfig } from 'vitest/config';

/**
 * Four projects: unit (no network), integration (real redis-server and DynamoDB Local started by
 * tests/support/global-setup.ts on free ports), cdk (template assertions and cdk-nag), load (every
 * artillery scenario at smoke scale against a private local stack, with its verdict).
 */
export default defineConfig({
  test: {
    // The SDK's "Node 22 from 2027" notice is true and known (README); once per worker is noise.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    coverage: {
      provider: 'v8',
      include: ['shared/**/*.ts', 'functions/**/*.ts'],
      reporter: ['text-summary', 'text'],
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
        test: { name: 'cdk', include: ['tests/cdk/**/*.test.ts'], testTimeout: 300_000 },
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
    ],
  },
});
