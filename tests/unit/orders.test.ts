import { describe, expect, it } from 'vitest';
import { toErrorResponse } from '../../shared/http/error-table.ts';
import { matchRoute } from '../../shared/http/route-match.ts';
import { hotDealStartBody, orderBody, orderIdParams } from '../../shared/http/schemas.ts';
import { orderView } from '../../shared/http/views.ts';
import {
  DealAlreadyActiveError,
  DealNotActiveError,
  OrderExpiredError,
  OrderNotFoundError,
  OrderNotPendingError,
  OrderNotRecordedError,
  OrderOutcomeUnknownError,
  PurchaseLimitError,
} from '../../shared/orders/index.ts';
import { DealActiveError } from '../../shared/stock/index.ts';

const ORDER_ID = '01J9Z3K4M5N6P7Q8R9S0T1V2W3';

describe('hot-deal error mapping', () => {
  it.each([
    [new DealNotActiveError(7), 409, 'DEAL_NOT_ACTIVE'],
    [new DealAlreadyActiveError(7), 409, 'DEAL_ALREADY_ACTIVE'],
    [new DealActiveError([7]), 409, 'DEAL_ACTIVE'],
    [new PurchaseLimitError(7, 1, 1, 1), 409, 'PURCHASE_LIMIT'],
    [new OrderNotFoundError(ORDER_ID), 404, 'ORDER_NOT_FOUND'],
    [new OrderExpiredError(ORDER_ID), 409, 'ORDER_EXPIRED'],
    [new OrderNotPendingError(ORDER_ID, 'CONFIRMED'), 409, 'ORDER_NOT_PENDING'],
    [new OrderNotRecordedError(ORDER_ID), 503, 'ORDER_NOT_RECORDED'],
    [new OrderOutcomeUnknownError(ORDER_ID), 503, 'ORDER_OUTCOME_UNKNOWN'],
  ])('maps %s to %i %s with a detail sentence', (error, status, code) => {
    const mapped = toErrorResponse(error);
    expect(mapped.status).toBe(status);
    expect(mapped.body).toMatchObject({ code, detail: expect.any(String) });
  });

  it('says the current status of an order that is no longer pending', () => {
    const mapped = toErrorResponse(new OrderNotPendingError(ORDER_ID, 'CONFIRMED'));
    expect(mapped.body).toMatchObject({ status: 'CONFIRMED' });
    expect(mapped.body.detail).toContain('CONFIRMED');
  });

  it('names the products on a deal when a plain purchase is refused', () => {
    expect(toErrorResponse(new DealActiveError([7, 9])).body).toMatchObject({
      code: 'DEAL_ACTIVE',
      product_ids: [7, 9],
      detail: expect.stringContaining('/api/orders'),
    });
  });

  it('tells an over-the-cap buyer the limit and what they already have', () => {
    expect(toErrorResponse(new PurchaseLimitError(7, 2, 2, 1)).body).toMatchObject({ limit: 2, already: 2 });
  });

  it('keeps internals out of the 503 bodies', () => {
    const mapped = toErrorResponse(new OrderNotRecordedError(ORDER_ID, { cause: new Error('secret') }));
    expect(JSON.stringify(mapped.body)).not.toContain('secret');
    expect(mapped.headers).toEqual({ 'retry-after': '1' });
  });
});

describe('hot-deal schemas', () => {
  it('accepts an order of a product and quantity', () => {
    expect(orderBody.parse({ product_id: 3, quantity: 2 })).toEqual({ product_id: 3, quantity: 2 });
  });

  it.each([
    { product_id: 0, quantity: 1 },
    { product_id: 1, quantity: 0 },
    { product_id: 1 },
    { quantity: 1 },
  ])('refuses the order body %j', (body) => {
    expect(orderBody.safeParse(body).success).toBe(false);
  });

  it('accepts a ULID order id and refuses anything else', () => {
    expect(orderIdParams.safeParse({ id: ORDER_ID }).success).toBe(true);
    expect(orderIdParams.safeParse({ id: 'me' }).success).toBe(false);
    expect(orderIdParams.safeParse({ id: `${ORDER_ID}0` }).success).toBe(false);
  });

  it('opens a deal with an empty body', () => {
    expect(hotDealStartBody.parse({})).toEqual({});
  });

  it('accepts a future ends_at, a cap and a reservation TTL', () => {
    const endsAt = new Date(Date.now() + 3_600_000).toISOString();
    expect(hotDealStartBody.parse({ ends_at: endsAt, max_per_user: 1, reservation_ttl_seconds: 60 })).toEqual(
      {
        ends_at: endsAt,
        max_per_user: 1,
        reservation_ttl_seconds: 60,
      },
    );
  });

  it.each([
    [{ ends_at: '2020-01-01T00:00:00Z' }, 'ends_at'],
    [{ ends_at: 'tomorrow' }, 'ends_at'],
    [{ max_per_user: 0 }, 'max_per_user'],
    [{ reservation_ttl_seconds: 0 }, 'reservation_ttl_seconds'],
    [{ reservation_ttl_seconds: 1.5 }, 'reservation_ttl_seconds'],
  ])('refuses %j naming %s', (body, field) => {
    const parsed = hotDealStartBody.safeParse(body);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual([field]);
  });

  it('shows an order in its contract shape', () => {
    const order = {
      id: ORDER_ID,
      user_id: 1,
      product_id: 2,
      quantity: 1,
      unit_price: 100,
      total_price: 100,
      status: 'PENDING' as const,
      created_at: 'a',
      expires_at: 'b',
      updated_at: 'c',
    };
    expect(orderView(order)).toEqual({
      id: ORDER_ID,
      product_id: 2,
      quantity: 1,
      unit_price: 100,
      total_price: 100,
      status: 'PENDING',
      created_at: 'a',
      expires_at: 'b',
      updated_at: 'c',
    });
  });
});

describe('matchRoute with a literal and a parameter at the same place', () => {
  it('prefers the literal /api/orders/me over /api/orders/{id}, as API Gateway does', () => {
    expect(matchRoute('GET', '/api/orders/me').match?.route.function).toBe('list-my-orders');
  });

  it('still routes any other segment to /api/orders/{id}', () => {
    const { match } = matchRoute('GET', `/api/orders/${ORDER_ID}`);
    expect(match?.route.function).toBe('get-order');
    expect(match?.pathParameters).toEqual({ id: ORDER_ID });
  });

  it('routes the order actions and the deal endpoints', () => {
    expect(matchRoute('POST', `/api/orders/${ORDER_ID}/confirm`).match?.route.function).toBe('confirm-order');
    expect(matchRoute('POST', `/api/orders/${ORDER_ID}/cancel`).match?.route.function).toBe('cancel-order');
    expect(matchRoute('POST', '/api/orders').match?.route.function).toBe('create-order');
    expect(matchRoute('POST', '/api/products/4/hotdeal/start').match?.pathParameters).toEqual({ id: '4' });
    expect(matchRoute('POST', '/api/products/4/hotdeal/end').match?.route.function).toBe('end-hotdeal');
  });
});
