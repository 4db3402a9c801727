/**
 * How API Gateway picks a route for `METHOD /path` among the route table's entries, for the local
 * gateway (bin/local) and the `$default` handler's 404/405.
 */
import { type HttpMethod, httpRoutes } from '../routes.ts';

/** Segment by segment, a literal sorts before a parameter: `/orders/me` is tried before `/orders/{id}`. */
const specificity = (path: string) =>
  path
    .split('/')
    .map((segment) => (segment.startsWith('{') ? '1' : '0'))
    .join('');

// API Gateway prefers the most specific route (literal segments beat parameters); so does this.
const patterns = httpRoutes
  .map((route) => ({
    route,
    names: [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string),
    regex: new RegExp(`^${route.path.replace(/\{\w+\}/g, '([^/]+)')}$`),
    rank: specificity(route.path),
  }))
  .sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0));

/** A malformed escape stays as sent (validation then refuses it with a 422) instead of throwing. */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

export interface RouteMatch {
  readonly route: (typeof httpRoutes)[number];
  readonly pathParameters: Record<string, string>;
}

/**
 * How API Gateway would route `method path`: the route and its path parameters, or null. `allowed`
 * lists the methods the path answers to (for a 405 and its Allow header).
 */
export function matchRoute(
  method: string,
  path: string,
): { match: RouteMatch | null; allowed: HttpMethod[] } {
  const allowed: HttpMethod[] = [];
  let match: RouteMatch | null = null;
  for (const { route, names, regex } of patterns) {
    const found = regex.exec(path);
    if (!found) continue;
    allowed.push(route.method);
    if (route.method === method.toUpperCase() && !match) {
      const pathParameters = Object.fromEntries(
        names.map((n, i) => [n, decodePathSegment(found[i + 1] ?? '')]),
      );
      match = { route, pathParameters };
    }
  }
  return { match, allowed };
}
