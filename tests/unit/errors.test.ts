import { describe, expect, it } from 'vitest';
import {
  ForbiddenError,
  InvalidCredentialsError,
  NotAuthenticatedError,
  UserExistsError,
} from '../../shared/auth/errors.ts';
import { CircuitOpenError } from '../../shared/breaker/index.ts';
import { DependencyUnavailableError } from '../../shared/health.ts';
import { toErrorResponse } from '../../shared/http/error-table.ts';
import {
  InvalidJsonError,
  MethodNotAllowedError,
  PayloadTooLargeError,
  RouteNotFoundError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../../shared/http/errors.ts';
import { LockLostError, LockNotAcquiredError, LockQuorumUnavailableError } from '../../shared/lock/errors.ts';
import {
  CapChangedError,
  IdempotencyKeyReusedError,
  InsufficientStockError,
  ProductNotFoundError,
  PurchaseInProgressError,
  PurchaseLimitError,
  PurchaseNotRecordedError,
  PurchaseOutcomeUnknownError,
  StockTooSpreadError,
  StockUnavailableError,
} from '../../shared/stock/errors.ts';

const secretCause = new Error('ddb table arn:aws:dynamodb:secret at /var/task/index.js:42');

const cases: [string, Error, number, string][] = [
  ['UserExistsError', new UserExistsError('alice'), 409, 'USER_EXISTS'],
  ['InvalidCredentialsError', new InvalidCredentialsError(), 401, 'INVALID_CREDENTIALS'],
  ['NotAuthenticatedError', new NotAuthenticatedError(), 401, 'NOT_AUTHENTICATED'],
  ['ForbiddenError', new ForbiddenError('admin'), 403, 'FORBIDDEN'],
  ['ProductNotFoundError', new ProductNotFoundError(7), 404, 'PRODUCT_NOT_FOUND'],
  ['InsufficientStockError', new InsufficientStockError(7, 3, 1), 400, 'INSUFFICIENT_STOCK'],
  ['LockNotAcquiredError', new LockNotAcquiredError('7', 12, 5000), 409, 'LOCK_CONFLICT'],
  ['LockLostError', new LockLostError('7', 3, 4), 409, 'LOCK_CONFLICT'],
  [
    'LockQuorumUnavailableError',
    new LockQuorumUnavailableError('7', 2, 60, 2, 3),
    503,
    'SERVICE_UNAVAILABLE',
  ],
  ['IdempotencyKeyReusedError', new IdempotencyKeyReusedError('idem-x'), 422, 'IDEMPOTENCY_KEY_REUSED'],
  ['PurchaseInProgressError', new PurchaseInProgressError('idem-x'), 409, 'PURCHASE_IN_PROGRESS'],
  ['PurchaseLimitError', new PurchaseLimitError(7, 3, 3, 1, 'product'), 409, 'PURCHASE_LIMIT'],
  ['CapChangedError', new CapChangedError([{ productId: 7, cap: 2 }]), 409, 'CAP_CHANGED'],
  ['StockTooSpreadError', new StockTooSpreadError([7, 8], 131), 409, 'STOCK_TOO_SPREAD'],
  [
    'PurchaseNotRecordedError',
    new PurchaseNotRecordedError('p1', { cause: secretCause }),
    503,
    'PURCHASE_NOT_RECORDED',
  ],
  [
    'PurchaseOutcomeUnknownError',
    new PurchaseOutcomeUnknownError('p1', { cause: secretCause }),
    503,
    'PURCHASE_OUTCOME_UNKNOWN',
  ],
  ['StockUnavailableError', new StockUnavailableError(7, { cause: secretCause }), 503, 'STOCK_UNAVAILABLE'],
  [
    'ValidationError',
    new ValidationError([{ field: 'body.price', message: 'must be a whole number' }]),
    422,
    'VALIDATION_ERROR',
  ],
  [
    'InvalidJsonError',
    new InvalidJsonError({ cause: new SyntaxError('Unexpected token') }),
    422,
    'INVALID_JSON',
  ],
  ['UnsupportedMediaTypeError', new UnsupportedMediaTypeError('text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE'],
  ['PayloadTooLargeError', new PayloadTooLargeError(20_000, 16_384), 413, 'PAYLOAD_TOO_LARGE'],
  ['RouteNotFoundError', new RouteNotFoundError('GET', '/api/nope'), 404, 'NOT_FOUND'],
  ['MethodNotAllowedError', new MethodNotAllowedError('DELETE', ['GET', 'POST']), 405, 'METHOD_NOT_ALLOWED'],
  [
    'DependencyUnavailableError',
    new DependencyUnavailableError({ redis: 'ok', dynamodb: 'unreachable' }),
    503,
    'SERVICE_UNAVAILABLE',
  ],
  ['CircuitOpenError', new CircuitOpenError('redis', 4_200), 503, 'SERVICE_UNAVAILABLE'],
];

describe('the error table', () => {
  it.each(cases)('maps %s to %i %s', (_name, error, status, code) => {
    const response = toErrorResponse(error);
    expect(response.status).toBe(status);
    expect(response.body.code).toBe(code);
  });

  it.each(cases)('gives %s a body with a string detail and a string code', (_name, error) => {
    const { body } = toErrorResponse(error);
    expect(typeof body.detail).toBe('string');
    expect(body.detail.length).toBeGreaterThan(0);
    expect(typeof body.code).toBe('string');
  });

  it.each(cases.filter(([, , status]) => status >= 500))(
    'keeps the cause of %s out of the 5xx body',
    (_name, error) => {
      const text = JSON.stringify(toErrorResponse(error));
      expect(text).not.toContain('arn:aws');
      expect(text).not.toContain('/var/task');
    },
  );

  it('asks for a bearer token on 401 NOT_AUTHENTICATED', () => {
    expect(toErrorResponse(new NotAuthenticatedError()).headers).toMatchObject({
      'www-authenticate': 'Bearer',
    });
  });

  it('answers unknown user and wrong password alike: one 401 body for every InvalidCredentialsError', () => {
    expect(toErrorResponse(new InvalidCredentialsError())).toEqual(
      toErrorResponse(new InvalidCredentialsError()),
    );
  });

  it('lists the allowed methods in the Allow header of a 405', () => {
    const response = toErrorResponse(new MethodNotAllowedError('DELETE', ['GET', 'POST']));
    expect(response.headers).toEqual({ allow: 'GET, POST' });
  });

  it('names the offending fields of a 422 in detail and in errors', () => {
    const response = toErrorResponse(
      new ValidationError([
        { field: 'body.price', message: 'must be a whole number' },
        { field: 'body.name', message: 'Required' },
      ]),
    );
    expect(response.body.detail).toContain('body.price');
    expect(response.body.detail).toContain('body.name');
    expect(response.body.errors).toEqual([
      { field: 'body.price', message: 'must be a whole number' },
      { field: 'body.name', message: 'Required' },
    ]);
  });

  it('tells the sold-out buyer how many units are left', () => {
    expect(toErrorResponse(new InsufficientStockError(7, 3, 1)).body).toMatchObject({
      product_id: 7,
      available: 1,
    });
  });

  it("tells a buyer at a product's per-buyer cap which product, the cap and what they already bought", () => {
    const response = toErrorResponse(new PurchaseLimitError(7, 3, 2, 2, 'product'));
    expect(response).toEqual({
      status: 409,
      body: {
        detail: 'At most 3 of product 7 per buyer; you have bought 2, 2 requested',
        code: 'PURCHASE_LIMIT',
        product_id: 7,
        limit: 3,
        already: 2,
      },
    });
  });

  it('asks a buyer whose sale met a cap change twice to retry after a second', () => {
    expect(toErrorResponse(new CapChangedError([{ productId: 7, cap: null }])).headers).toEqual({
      'retry-after': '1',
    });
  });

  it('asks a lock-conflicted buyer to retry after a second', () => {
    expect(toErrorResponse(new LockNotAcquiredError('7', 12, 5000)).headers).toEqual({ 'retry-after': '1' });
  });

  it('names the failing dependency in the health 503', () => {
    const { body } = toErrorResponse(
      new DependencyUnavailableError({ redis: 'ok', dynamodb: 'unreachable' }),
    );
    expect(body).toMatchObject({ redis: 'ok', dynamodb: 'unreachable' });
    expect(body.detail).toContain('dynamodb');
    expect(body.detail).not.toContain('redis');
  });
});

describe('unexpected errors', () => {
  it('answers an unknown Error with 500 INTERNAL_ERROR and none of its message or stack', () => {
    const error = new TypeError("Cannot read properties of undefined (reading 'secret_field')");
    const response = toErrorResponse(error);
    expect(response).toEqual({
      status: 500,
      body: { detail: 'Internal server error', code: 'INTERNAL_ERROR' },
    });
    const text = JSON.stringify(response);
    expect(text).not.toContain('secret_field');
    expect(text).not.toContain('at ');
  });

  it.each([
    ['a string', 'boom'],
    ['null', null],
    ['an object', { message: 'Connection is closed.' }],
  ])('answers a thrown non-Error (%s) with 500 INTERNAL_ERROR', (_name, thrown) => {
    expect(toErrorResponse(thrown)).toEqual({
      status: 500,
      body: { detail: 'Internal server error', code: 'INTERNAL_ERROR' },
    });
  });
});

describe('dependency outages', () => {
  const named = (name: string, message: string, extra: Record<string, unknown> = {}) =>
    Object.assign(Object.assign(new Error(message), { name }), extra);

  it.each([
    ['ioredis closed connection', new Error('Connection is closed.')],
    ['ECONNREFUSED', named('Error', 'connect ECONNREFUSED 127.0.0.1:6379', { code: 'ECONNREFUSED' })],
    ['ETIMEDOUT', named('Error', 'connect ETIMEDOUT')],
    ['ioredis command timeout', new Error('Command timed out')],
    [
      'ioredis MaxRetriesPerRequestError',
      named('MaxRetriesPerRequestError', 'Reached the max retries per request limit (which is 2).'),
    ],
    [
      'an AWS SDK server fault',
      named('InternalServerError', 'Internal server error at arn:aws:dynamodb:secret', { $fault: 'server' }),
    ],
    [
      'DynamoDB throttling',
      named('ProvisionedThroughputExceededException', 'Rate exceeded', {
        $fault: 'client',
        $retryable: { throttling: true },
      }),
    ],
    ['ThrottlingException', named('ThrottlingException', 'Rate exceeded', { $fault: 'client' })],
  ])('answers %s with a retryable 503 SERVICE_UNAVAILABLE', (_name, error) => {
    const response = toErrorResponse(error);
    expect(response.status).toBe(503);
    expect(response.body).toEqual({ detail: expect.any(String), code: 'SERVICE_UNAVAILABLE' });
    expect(response.headers).toMatchObject({ 'retry-after': expect.any(String) });
    expect(JSON.stringify(response)).not.toContain(error.message);
  });

  it('answers an open breaker with the outage body and Retry-After for the time it stays open', () => {
    expect(toErrorResponse(new CircuitOpenError('redis', 4_200))).toEqual({
      status: 503,
      body: { detail: 'A backing service is unavailable; try again', code: 'SERVICE_UNAVAILABLE' },
      headers: { 'retry-after': '5' },
    });
    expect(toErrorResponse(new CircuitOpenError('dynamodb', 10)).headers).toEqual({ 'retry-after': '1' });
  });

  it('answers an AWS SDK client fault (a bug, not an outage) with 500', () => {
    const error = Object.assign(new Error('One or more parameter values were invalid'), {
      name: 'ValidationException',
      $fault: 'client',
    });
    expect(toErrorResponse(error).status).toBe(500);
  });
});
