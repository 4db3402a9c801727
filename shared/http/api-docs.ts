/**
 * Swagger UI for the OpenAPI document, served by the service itself from the swagger-ui-dist package
 * (no outside network): the page, and the two files it loads. Deployed, the files are copied next
 * to the function's bundle (lib/endpoint-function.ts); locally they are read from node_modules.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The files the page loads, and their media types. Nothing else of the package is served. */
export const SWAGGER_ASSETS = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
} as const;

export type SwaggerAsset = keyof typeof SWAGGER_ASSETS;

export const isSwaggerAsset = (name: string): name is SwaggerAsset => Object.hasOwn(SWAGGER_ASSETS, name);

/** Where the package's files are: beside the bundle when deployed, in node_modules otherwise. */
function assetDirectory(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'swagger-ui'), join(process.cwd(), 'node_modules', 'swagger-ui-dist')];
  try {
    candidates.push(dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json')));
  } catch {
    // Bundled: the package is not resolvable from here, and the copy beside the bundle is used.
  }
  const found = candidates.find((dir) => existsSync(join(dir, 'swagger-ui-bundle.js')));
  if (!found) throw new Error(`swagger-ui-dist not found in ${candidates.join(', ')}`);
  return found;
}

const cache = new Map<SwaggerAsset, string>();

/** One of the page's files, read once per process. */
export function swaggerAsset(name: SwaggerAsset): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(join(assetDirectory(), name), 'utf8');
    cache.set(name, text);
  }
  return text;
}

export const swaggerPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Flash-sale inventory API</title>
<link rel="stylesheet" href="/api/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/api/docs/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({ url: '/api/openapi.json', dom_id: '#swagger-ui', deepLinking: true });
</script>
</body>
</html>
`;
