import { endpoint, MethodNotAllowedError, matchRoute, preflight, RouteNotFoundError } from '#shared/http';

/**
 * API Gateway's $default route: the contract's 404 or 405 for anything no route matches, and the
 * CORS preflight (OPTIONS) of an origin on the allowlist.
 */
export const handler = endpoint('route-not-found', {}, {}, async ({ event }) => {
  const { method, path } = event.requestContext.http;
  const { allowed } = matchRoute(method, path);
  if (method === 'OPTIONS' && allowed.length > 0) {
    const answer = preflight(event.headers?.origin);
    if (answer) return answer;
  }
  throw allowed.length > 0
    ? new MethodNotAllowedError(method, allowed)
    : new RouteNotFoundError(method, path);
});
