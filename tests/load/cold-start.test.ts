/**
 * The cold-start bench's parts (load/lib/cold-start.ts) on one cheap function: the function list
 * follows the route table, the bundle is built the way Lambda gets it, and a fresh process imports
 * it and answers. The numbers themselves come from `npm run bench -- cold`, not from here.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  bundleFunction,
  coldStartFunctions,
  coldStartTable,
  measureColdStarts,
} from '../../load/lib/cold-start.ts';
import { fallbackRoute, httpRoutes, scheduledFunctions } from '../../shared/routes.ts';

// Inside the project: the bundles import @aws-sdk/* from its node_modules, as Lambda's runtime provides it.
mkdirSync('load/results', { recursive: true });
const dir = mkdtempSync(join('load', 'results', 'cold-start-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the cold-start bench', () => {
  it('measures every function of the route table, once each', () => {
    const names = coldStartFunctions().map((f) => f.name);

    expect(names).toEqual([
      ...httpRoutes.map((r) => r.function),
      fallbackRoute.function,
      ...scheduledFunctions.map((s) => s.function),
    ]);
    expect(new Set(names).size).toBe(names.length);
  });

  it('bundles a function as Lambda gets it: ESM behind the createRequire banner, the AWS SDK left out', async () => {
    const bundle = await bundleFunction('get-health', dir);
    const code = readFileSync(bundle.file, 'utf8');

    expect(code.startsWith("import { createRequire } from 'node:module';")).toBe(true);
    expect(code).toMatch(/from\s*"@aws-sdk\/client-dynamodb"/);
    // The SDK's own protocol name: present in any bundle that carried the client instead of importing it.
    expect(code).not.toContain('DynamoDB_20120810');
    expect(code).toMatch(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/);
    expect(bundle.bytes).toBe(Buffer.byteLength(code));
    expect(bundle.mapBytes).toBeGreaterThan(0);
  });

  it('imports the bundle in a fresh process and answers its first request (an unknown route: 404)', async () => {
    const fallback = coldStartFunctions().filter((f) => f.name === fallbackRoute.function);

    const [result] = await measureColdStarts({ outDir: dir, runs: 1, env: {}, functions: fallback });

    expect(result?.statuses).toEqual([404]);
    expect(result?.readyMs).toBeGreaterThan(0);
    expect(result?.firstAnswerMs).toBeGreaterThanOrEqual(result?.readyMs ?? Number.POSITIVE_INFINITY);
    expect(result?.readyCpuMs).toBeGreaterThan(0);
    expect(result?.firstAnswerCpuMs).toBeGreaterThanOrEqual(result?.readyCpuMs ?? Number.POSITIVE_INFINITY);
    expect(coldStartTable(result ? [result] : [])).toContain(`| ${fallbackRoute.function} | $default |`);
  });
});
