/**
 * The local stand-in for API Gateway's HTTP API: each HTTP request becomes a payload-2.0 event and
 * goes to the handler of its route in shared/routes.ts (or to the `$default` route-not-found handler),
 * the same handler code that CDK deploys. Nothing here knows any endpoint's logic.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { matchRoute } from '../../shared/http/route-match.ts';
import { type EndpointName, fallbackRoute } from '../../shared/routes.ts';

type Handler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** API Gateway refuses payloads over 10 MB before any function runs; so does this. */
const GATEWAY_PAYLOAD_LIMIT = 10 * 1024 * 1024;
const TEXTUAL = /^(application\/(.+\+)?json|text\/|application\/(x-www-form-urlencoded|xml))/i;

const handlers = new Map<string, Promise<Handler>>();

/** Import functions/<name>.ts once, as a Lambda container would load it once. */
function handlerOf(name: EndpointName): Promise<Handler> {
  let loaded = handlers.get(name);
  if (!loaded) {
    loaded = import(`../../functions/${name}.ts`).then((module) => module.handler as Handler);
    handlers.set(name, loaded);
  }
  return loaded;
}

export function lambdaContext(functionName: string, requestId: string): Context {
  const deadline = Date.now() + 10_000;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

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

/** Route one request the way API Gateway would and invoke the route's Lambda handler. */
export async function invoke(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const body = await readBody(request);
  if (body === null) {
    send(response, {
      statusCode: 413,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ detail: 'Request body too large', code: 'PAYLOAD_TOO_LARGE' }),
    });
    return;
  }
  const method = (request.method ?? 'GET').toUpperCase();
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  const { match } = matchRoute(method, path);
  const name: EndpointName = match ? match.route.function : fallbackRoute.function;
  const routeKey = match ? `${match.route.method} ${match.route.path}` : '$default';
  const event = toEvent(request, body, routeKey, match?.pathParameters);
  const handler = await handlerOf(name);
  send(response, await handler(event, lambdaContext(name, event.requestContext.requestId)));
}

export function createApiServer(): Server {
  const server = createServer((request, response) => {
    invoke(request, response).catch((error: unknown) => {
      // Only a bug in this adapter lands here; handlers answer their own errors.
      console.error('local api gateway: unhandled error', error);
      if (!response.headersSent) {
        send(response, {
          statusCode: 500,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ detail: 'Internal server error', code: 'INTERNAL_ERROR' }),
        });
      }
    });
  });
  server.keepAliveTimeout = 65_000;
  return server;
}
