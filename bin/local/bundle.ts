/**
 * Each function as Lambda runs it: an ESM bundle built by esbuild from functions/<name>.ts, with the
 * options lib/endpoint-function.ts gives NodejsFunction (ESM, `module` before `main`, the `require`
 * shim banner, a source map without the sources), plus the worker harness (function-worker.ts) that
 * plays Lambda's runtime. Three differences, all for a laptop: all functions are built in one go with
 * their shared code split into chunks (one build of the AWS SDK instead of twenty), the SDK is
 * bundled too (Lambda's runtime ships its own; loading it file by file made simultaneous cold
 * starts take seconds longer) and nothing is minified, so stack traces stay readable.
 *
 * A worker then loads plain JavaScript: no TypeScript loader in the thread (Node 20 does not hand
 * `--import tsx` on to workers through `execArgv`), and a cold start costs about what it costs in
 * Lambda: loading the bundle and running its module scope.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
const harness = fileURLToPath(new URL('./function-worker.ts', import.meta.url));

/** Bundle every named function with the harness under `outDir`; returns each function's entry file. */
export async function bundleFunctions(
  names: readonly string[],
  outDir: string,
): Promise<Map<string, string>> {
  const entries = join(outDir, 'entries');
  mkdirSync(entries, { recursive: true });
  for (const name of names) {
    const source = join(projectRoot, 'functions', `${name}.ts`);
    writeFileSync(
      join(entries, `${name}.ts`),
      [
        `import { handler } from ${JSON.stringify(source)};`,
        `import { serve } from ${JSON.stringify(harness)};`,
        'serve(handler);',
        '',
      ].join('\n'),
    );
  }
  await build({
    entryPoints: names.map((name) => join(entries, `${name}.ts`)),
    absWorkingDir: projectRoot,
    outdir: join(outDir, 'out'),
    outExtension: { '.js': '.mjs' },
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: `node${process.versions.node}`,
    mainFields: ['module', 'main'],
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
    sourcemap: 'linked',
    sourcesContent: false,
    logLevel: 'warning',
  });
  return new Map(names.map((name) => [name, join(outDir, 'out', `${name}.mjs`)]));
}
