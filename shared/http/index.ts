export { type EndpointInput, endpoint, type HttpEvent, type HttpResult, json } from './endpoint.ts';
export {
  DependencyUnavailableError,
  errorTable,
  InvalidJsonError,
  MethodNotAllowedError,
  PayloadTooLargeError,
  RouteNotFoundError,
  toErrorResponse,
  UnsupportedMediaTypeError,
  ValidationError,
} from './errors.ts';
export * as schemas from './schemas.ts';
export { orderView, productView, purchaseView, userView } from './views.ts';
