/**
 * Every answer a contract test receives is checked against the OpenAPI document the service serves
 * (shared/http/openapi.ts): the status must be one the operation documents (or its `default`), and a
 * JSON body must match that response's schema (ajv, JSON Schema 2020-12, formats checked). A view
 * that drifts from the document fails the test that received it.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { openApiDocument } from '../../shared/http/openapi.ts';
import { matchRoute } from '../../shared/http/route-match.ts';

interface MediaType {
  schema?: object;
}
interface ResponseObject {
  content?: Record<string, MediaType>;
}

const document = openApiDocument() as unknown as {
  components: { schemas: Record<string, object> };
  paths: Record<string, Record<string, { responses: Record<string, ResponseObject> }>>;
};

const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats.default(ajv);
ajv.addSchema({ $id: 'openapi', components: document.components });

const compiled = new Map<object, ValidateFunction>();
function validator(schema: object): ValidateFunction {
  let validate = compiled.get(schema);
  if (!validate) {
    // The document's refs point at #/components/...: resolve them in the registered document.
    const rebased = JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/components/'));
    validate = ajv.compile(rebased);
    compiled.set(schema, validate);
  }
  return validate;
}

/** The operation's documented response for this status; throws when the document has none. */
function documented(method: string, path: string, status: number): ResponseObject {
  const { match } = matchRoute(method, path);
  if (!match) {
    // No route: the $default answer (404/405), always the error body.
    return { content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  }
  const operation = document.paths[match.route.path]?.[match.route.method.toLowerCase()];
  if (!operation) throw new Error(`OpenAPI: no operation for ${match.route.method} ${match.route.path}`);
  const response = operation.responses[String(status)] ?? operation.responses.default;
  if (!response) throw new Error(`OpenAPI: ${method} ${match.route.path} does not document ${status}`);
  if (status < 400 && !operation.responses[String(status)])
    throw new Error(`OpenAPI: ${method} ${match.route.path} answered ${status}, documents no such success`);
  return response;
}

/** Throws, naming the operation and every mismatch, when the answer is not what the document says. */
export function checkAgainstDocument(
  method: string,
  url: string,
  reply: { status: number; body: unknown; headers: Headers; text: string },
): void {
  const path = new URL(url, 'http://localhost').pathname;
  // A CORS preflight's 204 is the gateway's answer to the browser, not an operation of the API
  // (the $default route answers it for an allowed origin; docs/security.md): no body to check.
  if (method.toUpperCase() === 'OPTIONS' && reply.status === 204) {
    if (reply.text !== '') throw new Error(`OpenAPI: OPTIONS ${path} 204 must have no body`);
    return;
  }
  const response = documented(method.toUpperCase(), path, reply.status);
  const type = reply.headers.get('content-type')?.split(';')[0]?.trim() ?? '';
  if (!response.content) {
    if (reply.text !== '') throw new Error(`OpenAPI: ${method} ${path} ${reply.status} must have no body`);
    return;
  }
  const media =
    response.content[type] ??
    (type !== 'application/json' ? response.content['application/octet-stream'] : undefined);
  if (!media) {
    throw new Error(
      `OpenAPI: ${method} ${path} ${reply.status} answered ${type || 'no content type'}; documented: ${Object.keys(response.content).join(', ')}`,
    );
  }
  if (!media.schema) return;
  const validate = validator(media.schema);
  if (!validate(reply.body)) {
    throw new Error(
      `OpenAPI: ${method} ${path} ${reply.status} body does not match the document: ${ajv.errorsText(validate.errors)}\n${reply.text.slice(0, 500)}`,
    );
  }
}
