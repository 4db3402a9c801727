/**
 * HTTP-level errors: the request itself is wrong (its size, media type, JSON, fields, route or
 * method). Domain errors live with their capability; error-table.ts maps both to the contract.
 */

export interface FieldIssue {
  readonly field: string;
  readonly message: string;
}

export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  constructor(readonly issues: readonly FieldIssue[]) {
    super(`Invalid request: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`);
  }
}

export class InvalidJsonError extends Error {
  override readonly name = 'InvalidJsonError';
  constructor(options?: ErrorOptions) {
    super('The request body is not valid JSON', options);
  }
}

export class UnsupportedMediaTypeError extends Error {
  override readonly name = 'UnsupportedMediaTypeError';
  constructor(readonly contentType: string | undefined) {
    super('The request body must be JSON (content-type: application/json)');
  }
}

export class PayloadTooLargeError extends Error {
  override readonly name = 'PayloadTooLargeError';
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`The request body is ${bytes} bytes; the limit is ${limit}`);
  }
}

export class RouteNotFoundError extends Error {
  override readonly name = 'RouteNotFoundError';
  constructor(
    readonly method: string,
    readonly path: string,
  ) {
    super(`No route for ${method} ${path}`);
  }
}

export class MethodNotAllowedError extends Error {
  override readonly name = 'MethodNotAllowedError';
  constructor(
    readonly method: string,
    readonly allowed: readonly string[],
  ) {
    super(`Method ${method} is not allowed here; use ${allowed.join(', ')}`);
  }
}
