export {
  type EndpointInput,
  endpoint,
  type HttpEvent,
  type HttpResult,
  json,
  preflight,
  RawAnswer,
  type RawResponse,
  rawResponse,
} from './endpoint.ts';
export { type ErrorResponse, errorTable, toErrorResponse } from './error-table.ts';
export {
  InvalidJsonError,
  MethodNotAllowedError,
  PayloadTooLargeError,
  RouteNotFoundError,
  UnsupportedMediaTypeError,
  ValidationError,
} from './errors.ts';
export { corsHeaders, HTML_CSP, htmlHeaders, JSON_CSP, jsonHeaders } from './headers.ts';
export { matchRoute, type RouteMatch } from './route-match.ts';
export { scheduled } from './scheduled.ts';
export * as schemas from './schemas.ts';
export {
  actorOf,
  adminPurchaseView,
  auditView,
  orderView,
  productView,
  purchaseView,
  reconcileView,
  userView,
} from './views.ts';
