/**
 * Security headers on every answer, and CORS as an explicit allowlist.
 *
 * - `X-Content-Type-Options: nosniff` everywhere: a browser never guesses a JSON body to be HTML.
 * - JSON answers carry `Content-Security-Policy: default-src 'none'; frame-ancestors 'none'`: if one
 *   is ever rendered as a document, nothing loads and nothing frames it.
 * - HTML pages (the admin dashboard, the API docs) use `htmlHeaders()`: their own scripts and styles
 *   only, no framing (clickjacking), no outside network.
 * - CORS: only origins named in CORS_ALLOWED_ORIGINS (none by default) get
 *   `Access-Control-Allow-Origin`, echoed exactly with `Vary: Origin`; no credentials, no wildcard.
 */
export const BASE_SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

export const JSON_CSP = "default-src 'none'; frame-ancestors 'none'";
export const HTML_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export function jsonHeaders(): Record<string, string> {
  return {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': JSON_CSP,
    ...BASE_SECURITY_HEADERS,
  };
}

export function htmlHeaders(): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': HTML_CSP,
    'x-frame-options': 'DENY',
    ...BASE_SECURITY_HEADERS,
  };
}

/** The CORS headers for a request from `origin`: none unless it is on the allowlist. */
export function corsHeaders(origin: string | undefined, allowed: readonly string[]): Record<string, string> {
  if (!origin || !allowed.includes(origin)) return allowed.length > 0 ? { vary: 'origin' } : {};
  return {
    'access-control-allow-origin': origin,
    'access-control-expose-headers': 'retry-after, www-authenticate',
    vary: 'origin',
  };
}

/** A preflight's extra answer for an allowed origin (the fallback route answers OPTIONS). */
export function preflightHeaders(
  origin: string | undefined,
  allowed: readonly string[],
): Record<string, string> | null {
  if (!origin || !allowed.includes(origin)) return null;
  return {
    ...corsHeaders(origin, allowed),
    'access-control-allow-methods': 'GET, POST, PATCH, DELETE',
    'access-control-allow-headers': 'authorization, content-type, idempotency-key',
    'access-control-max-age': '600',
  };
}
