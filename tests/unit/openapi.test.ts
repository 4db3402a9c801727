/**
 * The OpenAPI document: generated from the route table and the code's zod schemas, every schema in it
 * valid JSON Schema 2020-12, and docs/openapi.json (the repository's API reference) current.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { OPENAPI_FILE } from '../../bin/openapi.ts';
import { openApiDocument } from '../../shared/http/openapi.ts';
import { httpRoutes } from '../../shared/routes.ts';

type Operation = {
  operationId: string;
  security?: unknown[];
  parameters: { name: string; in: string; required: boolean }[];
  requestBody?: { content: Record<string, { schema: object }> };
  responses: Record<string, { content?: Record<string, { schema?: object }> }>;
};
const document = openApiDocument() as unknown as {
  openapi: string;
  components: { schemas: Record<string, object> };
  paths: Record<string, Record<string, Operation>>;
};
const operation = (method: string, path: string) => document.paths[path]?.[method.toLowerCase()] as Operation;

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 with one operation per route of the route table, and no other', () => {
    expect(document.openapi).toBe('3.1.0');
    const documented = Object.entries(document.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(httpRoutes.map((r) => `${r.method} ${r.path}`).sort());
  });

  it.each(httpRoutes.map((r) => [`${r.method} ${r.path}`, r] as const))(
    '%s: its success status, the error body by default, bearer auth unless public',
    (_, route) => {
      const op = operation(route.method, route.path);
      expect(op.operationId).toBe(route.function);
      expect(op.responses[String(route.successStatus)]).toBeDefined();
      expect(op.responses.default?.content?.['application/json']?.schema).toEqual({
        $ref: '#/components/schemas/Error',
      });
      expect(op.security !== undefined).toBe(route.access !== 'public');
      // The documented refusals carry the contract's error body.
      const errorBody = { content: { 'application/json': { schema: expect.anything() } } };
      if (route.access !== 'public') expect(op.responses['401']).toMatchObject(errorBody);
      if (route.access === 'admin') expect(op.responses['403']).toMatchObject(errorBody);
      for (const name of route.path.match(/\{(\w+)\}/g) ?? []) {
        expect(op.parameters).toContainEqual(
          expect.objectContaining({ name: name.slice(1, -1), in: 'path', required: true }),
        );
      }
    },
  );

  it('takes the request bodies and parameters from the schemas the handlers validate with', () => {
    const adjust = operation('POST', '/api/admin/products/{id}/stock-adjustments');
    expect(adjust.requestBody?.content['application/json']?.schema).toMatchObject({
      type: 'object',
      properties: { delta: { type: 'integer' }, reason: { type: 'string', minLength: 1 } },
      required: ['delta', 'reason'],
    });
    const purchases = operation('GET', '/api/admin/purchases');
    expect(purchases.parameters.map((p) => `${p.in}:${p.name}`).sort()).toEqual(
      ['query:cursor', 'query:limit', 'query:product_id', 'query:user_id'].sort(),
    );
    expect(operation('POST', '/api/purchases').parameters).toContainEqual(
      expect.objectContaining({ name: 'idempotency-key', in: 'header', required: false }),
    );
  });

  it('closes the response objects, so a field the document does not name is drift', () => {
    const product = operation('GET', '/api/products/{id}').responses['200']?.content?.['application/json']
      ?.schema;
    expect(product).toMatchObject({ type: 'object', additionalProperties: false });
  });

  it('answers 204 with no body for the deletions', () => {
    expect(operation('DELETE', '/api/products/{id}').responses['204']).toEqual({
      description: 'Done; no body',
    });
    expect(operation('DELETE', '/api/admin/locks/{product_id}').responses['204']?.content).toBeUndefined();
  });

  it('holds only schemas a JSON Schema 2020-12 validator compiles', () => {
    const ajv = new Ajv2020({ strict: false });
    ajv.addSchema({ $id: 'openapi', components: document.components });
    const schemas: object[] = [];
    for (const ops of Object.values(document.paths)) {
      for (const op of Object.values(ops)) {
        for (const media of Object.values(op.requestBody?.content ?? {})) schemas.push(media.schema);
        for (const response of Object.values(op.responses))
          for (const media of Object.values(response.content ?? {}))
            if (media.schema) schemas.push(media.schema);
      }
    }
    expect(schemas.length).toBeGreaterThan(40);
    for (const schema of schemas) {
      const rebased = JSON.parse(
        JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/components/'),
      );
      expect(() => ajv.compile(rebased)).not.toThrow();
    }
    // Compiling some 80 schemas takes seconds on a busy two-core machine.
  }, 30_000);

  it('is what docs/openapi.json holds (run `npm run openapi` after changing a route or a schema)', () => {
    expect(JSON.parse(readFileSync(OPENAPI_FILE, 'utf8'))).toEqual(document);
  });
});
