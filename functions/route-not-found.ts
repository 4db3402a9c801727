import { endpoint, MethodNotAllowedError, matchRoute, RouteNotFoundError } from '#shared/http';

/** API Gateway's $default route: the contract's 404 or 405 for anything no route matches. */
export const handler = endpoint('route-not-found', {}, {}, async ({ event }) => {
  const { method, path } = event.requestContext.http;
  const { allowed } = matchRoute(method, path);
  throw allowed.length > 0
    ? new MethodNotAllowedError(method, allowed)
    : new RouteNotFoundError(method, path);
});
