/**
 * The one middy chain every endpoint uses. Reading order of a request:
 *   size limit (413) → authentication and role (401/403) → JSON body (415/422) → zod validation (422)
 *   → the handler's services (built on first use) → the handler → the route's success status.
 * Errors from any step go through the error table (error-table.ts), registered last.
 *
 * A handler is therefore only: parse (the schemas) → call a service → map the result. It names the
 * providers it needs (shared/wiring); at module load (the cold start) the endpoint checks that the
 * route's bindings are configured and that the providers need nothing the route does not declare.
 *
 * Every invocation's metrics (shared/wiring/metrics.ts) are flushed as one EMF line by `logMetrics`,
 * with the cold start; the API's request id joins the access log, the log lines and the metrics.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { ForbiddenError, NotAuthenticatedError } from '../auth/errors.ts';
import type { Principal } from '../auth/tokens.ts';
import { CircuitOpenError } from '../breaker/index.ts';
import { config, requireResources } from '../config.ts';
import { type LimitName, TooManyRequestsError } from '../limits/errors.ts';
import { logger } from '../logger.ts';
import {
  type EndpointName,
  type EndpointRoute,
  type fallbackRoute,
  type httpRoutes,
  routeOf,
} from '../routes.ts';
import { accountService } from '../wiring/auth.ts';
import { breakerRejected, correlate, limitReached, metrics } from '../wiring/metrics.ts';
import { needsBeyond, type Provider } from '../wiring/provider.ts';
import { tokenVerifier } from '../wiring/tokens.ts';
import { tracer } from '../wiring/tracing.ts';
import { toErrorResponse } from './error-table.ts';
import {
  InvalidJsonError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  ValidationError,
} from './errors.ts';
import { corsHeaders, jsonHeaders, preflightHeaders } from './headers.ts';

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

/** The providers a handler asks for, by the name it will use. */
export type Providers = Readonly<Record<string, Provider<unknown>>>;
type Built<P extends Providers> = { readonly [K in keyof P]: P[K] extends Provider<infer T> ? T : never };

export interface EndpointInput<S extends Schemas, Caller = Principal | null, Services = unknown> {
  readonly body: Parsed<S, 'body'>;
  readonly query: Parsed<S, 'query'>;
  readonly params: Parsed<S, 'params'>;
  readonly headers: Parsed<S, 'headers'>;
  /** The authenticated caller; public routes have none. */
  readonly caller: Caller;
  /** The services the handler asked for, built on first use and kept for the process. */
  readonly services: Services;
  readonly event: HttpEvent;
  /**
   * When this invocation ends (epoch ms): the Lambda timeout, read from the context. Work that waits
   * (a lock line) stops in time to finish what it started. Undefined outside a Lambda context.
   */
  readonly deadline: number | undefined;
}

/** Middy's way to hand middleware results to the handler: they are set on the context. */
interface EndpointContext extends Context {
  caller: Principal | null;
  input: Pick<EndpointInput<Schemas>, 'body' | 'query' | 'params' | 'headers'>;
}

/** A handler's answer that is not the route's JSON success (a CORS preflight): passed on as it is. */
export class RawAnswer {
  constructor(readonly result: HttpResult) {}
}

/** The 204 answer to a CORS preflight from an allowed origin; null for any other origin. */
export function preflight(origin: string | undefined): RawAnswer | null {
  const headers = preflightHeaders(origin, config().CORS_ALLOWED_ORIGINS);
  if (!headers) return null;
  return new RawAnswer({ statusCode: 204, headers: { ...jsonHeaders(), ...headers }, body: '' });
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return { statusCode: status, headers: { ...jsonHeaders(), ...headers }, body: JSON.stringify(body) };
}

const RAW = Symbol('a response the handler built itself');

/** A handler's answer that is not JSON (a page, a script): passed through as it is. */
export interface RawResponse {
  readonly [RAW]: HttpResult;
}

export const rawResponse = (result: HttpResult): RawResponse => ({ [RAW]: result });

const isRaw = (value: unknown): value is RawResponse =>
  typeof value === 'object' && value !== null && RAW in value;

function deadlineOf(context: Partial<Context>): number | undefined {
  const remaining = context.getRemainingTimeInMillis?.();
  return remaining === undefined || !Number.isFinite(remaining) ? undefined : Date.now() + remaining;
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
    const caller = await (await tokenVerifier.get()).verify(token);
    if (route.access === 'admin') {
      if (caller.role !== 'admin') throw new ForbiddenError('admin');
      // The token says admin; the users table must still say so, at the token's version, so a
      // demotion or a password reset takes effect at the next request rather than at expiry.
      await (await accountService.get()).requireAdmin(caller);
    }
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

/**
 * The API Gateway request id (the access log's `requestId`) on every log line and metric of this
 * invocation; the access log also carries the Lambda request id (`integrationRequestId`), which
 * Powertools logs as `function_request_id`.
 */
const correlation = (): MiddlewareObj<HttpEvent> => ({
  before: async ({ event }) => {
    const requestId = event.requestContext?.requestId;
    logger.appendKeys({ request_id: requestId });
    correlate(requestId);
  },
});

/** 429s seen by this container, per limit: the log samples them (LIMIT_LOG_EVERY), the metric counts all. */
const limitRefusals = new Map<LimitName, number>();

function limitRefused(limit: LimitName): void {
  limitReached(limit);
  const every = config().LIMIT_LOG_EVERY;
  const seen = limitRefusals.get(limit) ?? 0;
  limitRefusals.set(limit, seen + 1);
  if (every === 1) logger.warn('limit reached', { limit });
  else if (every > 0 && seen % every === 0) logger.warn('limit reached', { limit, sampled_one_in: every });
}

const errorMapping = (): MiddlewareObj<HttpEvent, HttpResult> => ({
  onError: async (request) => {
    if (request.error instanceof CircuitOpenError) breakerRejected(request.error.dependency);
    const mapped = toErrorResponse(request.error);
    if (mapped.status >= 500) logger.error('request failed', { error: request.error as Error });
    else if (request.error instanceof TooManyRequestsError) limitRefused(request.error.limit);
    request.response = json(mapped.status, mapped.body, mapped.headers);
  },
});

/**
 * The invocation's X-Ray subsegment (off outside Lambda: shared/wiring/tracing.ts), without the
 * response (it carries user data). Registered before the error mapping, so its onError runs after it
 * and sees the answer: a 4xx is the caller's error (X-Ray's error flag, throttle for 429), only a 5xx
 * is the service's fault.
 */
const tracing = (): MiddlewareObj<HttpEvent, HttpResult>[] => {
  // Tracing off: the tracer is not loaded at all (shared/wiring/tracing.ts), and there is no step.
  const active = tracer;
  if (!active) return [];
  const capture = captureLambdaHandler(active, { captureResponse: false });
  return [
    {
      ...capture,
      onError: async (request) => {
        const status = request.response?.statusCode ?? 500;
        if (status >= 500) return capture.onError?.(request);
        const segment = active.getSegment();
        if (status === 429) segment?.addThrottleFlag();
        segment?.addErrorFlag();
        return capture.after?.(request);
      },
    },
  ];
};

/** CORS on every answer, errors included (registered first, so its `after` runs last). */
const cors = (): MiddlewareObj<HttpEvent, HttpResult> => ({
  after: async (request) => {
    const extra = corsHeaders(request.event.headers?.origin, config().CORS_ALLOWED_ORIGINS);
    if (request.response) request.response.headers = { ...request.response.headers, ...extra };
  },
  onError: async (request) => {
    const extra = corsHeaders(request.event.headers?.origin, config().CORS_ALLOWED_ORIGINS);
    if (request.response) request.response.headers = { ...request.response.headers, ...extra };
  },
});

/**
 * The cold start's checks: the route's bindings are configured (fail closed outside the local
 * stage), and nothing the handler (or the authentication) needs is beyond what the route declares.
 */
function checkComposition(route: EndpointRoute, providers: readonly Provider<unknown>[]): void {
  requireResources(config(), route.uses, route.function);
  const all = [
    ...(route.access === 'public' ? [] : [tokenVerifier]),
    ...(route.access === 'admin' ? [accountService] : []),
    ...providers,
  ];
  for (const p of all) {
    const beyond = needsBeyond(p.needs, route.uses);
    if (beyond.length > 0) {
      throw new Error(
        `${route.function} uses ${p.name}, which needs ${beyond.join(', ')}: declare it in shared/routes.ts`,
      );
    }
  }
}

async function build<P extends Providers>(providers: P): Promise<Built<P>> {
  const entries = Object.entries(providers);
  const values = await Promise.all(entries.map(([, p]) => p.get()));
  return Object.fromEntries(entries.map(([name], i) => [name, values[i]])) as Built<P>;
}

/**
 * Build a Lambda handler for the route of `functionName` in shared/routes.ts: its access level and
 * success status come from the route table, so a handler carries neither. `providers` names the
 * services the handler uses (shared/wiring); nothing else is built in this function.
 */
export function endpoint<N extends EndpointName, S extends Schemas, P extends Providers>(
  functionName: N,
  schemas: S,
  providers: P,
  run: (input: EndpointInput<S, CallerOf<N>, Built<P>>) => Promise<unknown>,
) {
  const route = routeOf(functionName);
  checkComposition(route, Object.values(providers));
  const chain = middy<HttpEvent, HttpResult, Error, EndpointContext>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { captureColdStartMetric: true }))
    .use(tracing())
    .use(correlation())
    .use(httpHeaderNormalizer())
    .use(cors())
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
        services: await build(providers),
        event,
        deadline: deadlineOf(context),
      });
      if (result instanceof RawAnswer) return result.result;
      if (isRaw(result)) return result[RAW];
      if (route.successStatus === 204) return { statusCode: 204, headers: { 'cache-control': 'no-store' } };
      return json(route.successStatus, result);
    });
}
