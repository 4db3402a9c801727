export {
  type EndpointInput,
  endpoint,
  type HttpEvent,
  type HttpResult,
  json,
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
export { matchRoute, type RouteMatch } from './route-match.ts';
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
