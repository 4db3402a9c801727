/**
 * The local stand-in for API Gateway's HTTP API: each HTTP request becomes a payload-2.0 event and
 * goes to the function of its route in shared/routes.ts (or to the `$default` route-not-found
 * function), the same handler code that CDK deploys. Nothing here knows any endpoint's logic.
 *
 * Building the event and routing happen here, on the gateway's thread; running the handler is the
 * invoker's job: in this thread (`inProcessInvoker`, the default, what the tests use) or in the
 * function's own worker threads (function-pool.ts, what `npm start` uses). When the invoker gives no
 * answer, the client gets what API Gateway would give, in the contract's `{detail, code}` body:
 * 503 FUNCTION_TIMEOUT when the function ran past its timeout, 429 TOO_MANY_REQUESTS when the
 * function's queue is full, 500 INTERNAL_ERROR when it failed.
 *
 * Like API Gateway's access log (lib/public-api.ts), it can print one JSON line per request with
 * the request id the function's log lines and metrics carry; and, outside /api, it serves the
 * runtime's metrics as Prometheus text at GET /metrics.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { matchRoute } from '../../shared/http/route-match.ts';
import { type EndpointName, fallbackRoute } from '../../shared/routes.ts';
import {
  FunctionFailedError,
  FunctionThrottledError,
  FunctionTimeoutError,
  type Invoker,
  inProcessInvoker,
} from './invocation.ts';

export { lambdaContext } from './invocation.ts';

/** API Gateway refuses payloads over 10 MB before any function runs; so does this. */
const GATEWAY_PAYLOAD_LIMIT = 10 * 1024 * 1024;
const TEXTUAL = /^(application\/(.+\+)?json|text\/|application\/(x-www-form-urlencoded|xml))/i;

export function toEvent(
  request: IncomingMessage,
  body: Buffer,
  routeKey: string,
  pathParameters: Record<string, string> | undefined,
): APIGatewayProxyEventV2 {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined && name !== 'cookie')
      headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams)
    query[name] = name in query ? `${query[name]},${value}` : value;
  const textual = TEXTUAL.test(headers['content-type'] ?? 'application/json');
  const now = new Date();
  const requestId = randomUUID();
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    ...(request.headers.cookie && { cookies: request.headers.cookie.split(/;\s*/) }),
    headers,
    ...(Object.keys(query).length > 0 && { queryStringParameters: query }),
    ...(pathParameters && Object.keys(pathParameters).length > 0 && { pathParameters }),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method: (request.method ?? 'GET').toUpperCase(),
        path: url.pathname,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length > 0 && { body: textual ? body.toString('utf8') : body.toString('base64') }),
    isBase64Encoded: body.length > 0 && !textual,
  };
}

function send(response: ServerResponse, result: APIGatewayProxyStructuredResultV2) {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  if (result.cookies?.length) headers['set-cookie'] = result.cookies;
  const body = result.body
    ? Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8')
    : Buffer.alloc(0);
  response.writeHead(result.statusCode ?? 200, { ...headers, 'content-length': String(body.length) });
  response.end(body);
}

async function readBody(request: IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > GATEWAY_PAYLOAD_LIMIT) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function errorResult(
  status: number,
  detail: string,
  code: string,
  headers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify({ detail, code }),
  };
}

/** What API Gateway answers when the function gave no answer of its own. */
function gatewayError(error: unknown): APIGatewayProxyStructuredResultV2 {
  if (error instanceof FunctionTimeoutError) {
    return errorResult(
      503,
      'The request did not finish in time; it may or may not have taken effect',
      'FUNCTION_TIMEOUT',
    );
  }
  if (error instanceof FunctionThrottledError) {
    return errorResult(429, 'Too many requests; retry shortly', 'TOO_MANY_REQUESTS', { 'retry-after': '1' });
  }
  if (error instanceof FunctionFailedError && error.phase === 'shutdown') {
    return errorResult(503, 'The service is shutting down', 'SERVICE_UNAVAILABLE');
  }
  // A handler answers its own errors (shared/http); one that throws anyway, a module that does not
  // load, a worker that died: API Gateway's 500, with the cause in the log and not in the body.
  console.error('local api gateway: function failed', error);
  return errorResult(500, 'Internal server error', 'INTERNAL_ERROR');
}

/** Route one request the way API Gateway would and invoke the route's Lambda function. */
export async function invoke(
  request: IncomingMessage,
  response: ServerResponse,
  invoker: Invoker,
  accessLog?: AccessLog,
): Promise<void> {
  const body = await readBody(request);
  if (body === null) {
    send(response, errorResult(413, 'Request body too large', 'PAYLOAD_TOO_LARGE'));
    return;
  }
  const method = (request.method ?? 'GET').toUpperCase();
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  const { match } = matchRoute(method, path);
  const name: EndpointName = match ? match.route.function : fallbackRoute.function;
  const routeKey = match ? `${match.route.method} ${match.route.path}` : '$default';
  const event = toEvent(request, body, routeKey, match?.pathParameters);
  const started = performance.now();
  let result: APIGatewayProxyStructuredResultV2;
  try {
    result = (await invoker.invoke(
      name,
      event,
      event.requestContext.requestId,
    )) as APIGatewayProxyStructuredResultV2;
  } catch (error) {
    result = gatewayError(error);
  }
  send(response, result);
  accessLog?.(
    JSON.stringify({
      requestId: event.requestContext.requestId,
      integrationRequestId: event.requestContext.requestId,
      requestTime: event.requestContext.time,
      sourceIp: event.requestContext.http.sourceIp,
      routeKey,
      status: result.statusCode ?? 200,
      responseLatency: Math.round(performance.now() - started),
    }),
  );
}

export type AccessLog = (line: string) => void;

export interface ApiServerOptions {
  /** Who runs the handlers. @default inProcessInvoker(): this thread, no isolation, no timeout */
  readonly invoker?: Invoker;
  /** Gets one JSON access-log line per request (API Gateway's format). @default none */
  readonly accessLog?: AccessLog;
  /** Served as Prometheus text at GET /metrics. @default none: /metrics is an unknown route */
  readonly metrics?: { prometheus(): string };
}

const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';

export function createApiServer(options: ApiServerOptions = {}): Server {
  const invoker = options.invoker ?? inProcessInvoker();
  const { metrics } = options;
  const server = createServer((request, response) => {
    if (metrics && request.method === 'GET' && request.url?.split('?')[0] === '/metrics') {
      const text = metrics.prometheus();
      response.writeHead(200, { 'content-type': PROMETHEUS_TEXT, 'content-length': Buffer.byteLength(text) });
      response.end(text);
      return;
    }
    invoke(request, response, invoker, options.accessLog).catch((error: unknown) => {
      // Only a bug in this adapter lands here; handlers answer their own errors.
      console.error('local api gateway: unhandled error', error);
      if (!response.headersSent) send(response, errorResult(500, 'Internal server error', 'INTERNAL_ERROR'));
    });
  });
  server.keepAliveTimeout = 65_000;
  return server;
}
