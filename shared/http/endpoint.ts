/**
 * The one middy chain every endpoint uses. Reading order of a request:
 *   size limit (413) → authentication and role (401/403) → JSON body (415/422) → zod validation (422)
 *   → the handler → the route's success status with a JSON body.
 * Errors from any step go through the error table (errors.ts), registered last.
 *
 * A handler is therefore only: parse (the schemas) → call a service → map the result.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { ForbiddenError, NotAuthenticatedError, type Principal } from '../auth/index.ts';
import { config } from '../config.ts';
import { logger } from '../logger.ts';
import {
  type EndpointName,
  type EndpointRoute,
  type fallbackRoute,
  type httpRoutes,
  routeOf,
} from '../routes.ts';
import { type Services, services } from '../services.ts';
import {
  InvalidJsonError,
  PayloadTooLargeError,
  toErrorResponse,
  UnsupportedMediaTypeError,
  ValidationError,
} from './errors.ts';

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResult = APIGatewayProxyStructuredResultV2;

export interface Schemas {
  readonly body?: z.ZodType;
  readonly query?: z.ZodType;
  readonly params?: z.ZodType;
  readonly headers?: z.ZodType;
}

type Parsed<S, K extends keyof Schemas> = S extends { [P in K]: infer T extends z.ZodType }
  ? z.output<T>
  : undefined;

type AccessOf<N extends EndpointName> = Extract<
  (typeof httpRoutes)[number] | typeof fallbackRoute,
  { function: N }
>['access'];
type CallerOf<N extends EndpointName> = [AccessOf<N>] extends ['public'] ? null : Principal;

export interface EndpointInput<S extends Schemas, Caller = Principal | null> {
  readonly body: Parsed<S, 'body'>;
  readonly query: Parsed<S, 'query'>;
  readonly params: Parsed<S, 'params'>;
  readonly headers: Parsed<S, 'headers'>;
  /** The authenticated caller; public routes have none. */
  readonly caller: Caller;
  readonly services: Services;
  readonly event: HttpEvent;
}

/** Middy's way to hand middleware results to the handler: they are set on the context. */
interface EndpointContext extends Context {
  caller: Principal | null;
  input: Pick<EndpointInput<Schemas>, 'body' | 'query' | 'params' | 'headers'>;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return { statusCode: status, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

function bodyBytes(event: HttpEvent): number {
  if (!event.body) return 0;
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').byteLength : Buffer.byteLength(event.body);
}

const sizeLimit = (): MiddlewareObj<HttpEvent> => ({
  before: async ({ event }) => {
    const limit = config().MAX_BODY_BYTES;
    const bytes = bodyBytes(event);
    if (bytes > limit) throw new PayloadTooLargeError(bytes, limit);
  },
});

const authenticate = (
  route: EndpointRoute,
): MiddlewareObj<HttpEvent, HttpResult, Error, EndpointContext> => ({
  before: async (request) => {
    request.context.caller = null;
    if (route.access === 'public') return;
    const header = request.event.headers?.authorization ?? '';
    const [scheme, token, ...rest] = header.trim().split(/\s+/);
    if (scheme?.toLowerCase() !== 'bearer' || !token || rest.length > 0) throw new NotAuthenticatedError();
    const caller = await (await services()).tokens.verify(token);
    if (route.access === 'admin' && caller.role !== 'admin') throw new ForbiddenError('admin');
    request.context.caller = caller;
    logger.appendKeys({ user_id: caller.userId });
  },
});

/** Middy's JSON parser, with its errors turned into the contract's 415 and 422. */
const jsonBody = (): MiddlewareObj<HttpEvent> => {
  const parser = httpJsonBodyParser();
  return {
    before: async (request) => {
      // No body at all reads as `{}`: validation then names each required field (or accepts it,
      // where every field is optional, like a hot deal's start).
      if (!request.event.body) {
        (request.event as { body: unknown }).body = {};
        return;
      }
      const contentType = request.event.headers?.['content-type'];
      // Media types compare case-insensitively (RFC 9110) and JSON is always UTF-8, so hand middy's
      // (case-sensitive) parser just the lower-cased essence: `Application/JSON; charset=utf-8` works.
      const essence = contentType?.split(';')[0]?.trim().toLowerCase() ?? '';
      if (!/^application\/(.+\+)?json$/.test(essence)) throw new UnsupportedMediaTypeError(contentType);
      request.event.headers['content-type'] = essence;
      try {
        await parser.before?.(request as never);
      } catch (error) {
        throw new InvalidJsonError({ cause: error });
      }
    },
  };
};

function issuesOf(part: string, error: z.ZodError) {
  return error.issues.map((issue) => ({
    field: [part, ...issue.path.map(String)].join('.'),
    message: issue.message,
  }));
}

const validate = (schemas: Schemas): MiddlewareObj<HttpEvent, HttpResult, Error, EndpointContext> => ({
  before: async (request) => {
    const { event } = request;
    const sources = {
      body: event.body as unknown,
      query: event.queryStringParameters ?? {},
      params: event.pathParameters ?? {},
      headers: event.headers ?? {},
    };
    const parsed: Record<string, unknown> = {};
    const issues = [];
    for (const part of ['params', 'query', 'headers', 'body'] as const) {
      const schema = schemas[part];
      if (!schema) continue;
      const result = schema.safeParse(sources[part]);
      if (result.success) parsed[part] = result.data;
      else issues.push(...issuesOf(part, result.error));
    }
    if (issues.length > 0) throw new ValidationError(issues);
    request.context.input = parsed as EndpointContext['input'];
  },
});

const errorMapping = (): MiddlewareObj<HttpEvent, HttpResult> => ({
  onError: async (request) => {
    const mapped = toErrorResponse(request.error);
    if (mapped.status >= 500) logger.error('request failed', { error: request.error as Error });
    request.response = json(mapped.status, mapped.body, mapped.headers);
  },
});

function declaresNoResources(route: EndpointRoute): boolean {
  return Object.keys(route.uses.tables).length === 0 && !route.uses.redis && !route.uses.jwt;
}

/** A route that declares no resources (route-not-found) gets no clients; touching one is a bug. */
function noServices(functionName: string): Services {
  return new Proxy({} as Services, {
    get: (_, property) => {
      throw new Error(
        `${functionName} declares no resources in shared/routes.ts but used services.${String(property)}`,
      );
    },
  });
}

/**
 * Build a Lambda handler for the route of `functionName` in shared/routes.ts: its access level and
 * success status come from the route table, so a handler carries neither.
 */
export function endpoint<N extends EndpointName, S extends Schemas>(
  functionName: N,
  schemas: S,
  run: (input: EndpointInput<S, CallerOf<N>>) => Promise<unknown>,
) {
  const route = routeOf(functionName);
  const chain = middy<HttpEvent, HttpResult, Error, EndpointContext>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(httpHeaderNormalizer())
    .use(sizeLimit())
    .use(authenticate(route));
  if (schemas.body) chain.use(jsonBody());
  return chain
    .use(validate(schemas))
    .use(errorMapping())
    .handler(async (event, context) => {
      const result = await run({
        ...(context.input as Pick<EndpointInput<S>, 'body' | 'query' | 'params' | 'headers'>),
        // The authenticate step guarantees a caller on every non-public route.
        caller: context.caller as CallerOf<N>,
        services: declaresNoResources(route) ? noServices(route.function) : await services(),
        event,
      });
      return json(route.successStatus, result);
    });
}
