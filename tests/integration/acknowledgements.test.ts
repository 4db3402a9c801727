/**
 * No lost acknowledgement, no phantom unit: a retry with the same Idempotency-Key meets the first
 * request's outcome; a durable write whose answer was lost is settled before anything is released
 * or reported; scripts resent after a lost reply are success; units DynamoDB refuses leave Redis.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LockNotAcquiredError } from '../../shared/lock/index.ts';
import {
  InsufficientStockError,
  PurchaseNotRecordedError,
  PurchaseOutcomeUnknownError,
} from '../../shared/stock/index.ts';
import { countStatuses, startTestApi, type TestApi } from '../support/api.ts';
import { dynamo, stack } from '../support/services.ts';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api.close();
});

/** The purchase transaction's answer is lost `times` times: applied by DynamoDB, then a timeout. */
function loseTransactionAnswers(doc: DynamoDBDocumentClient, times: number, apply: boolean) {
  let left = times;
  doc.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'TransactWriteItemsCommand' || left <= 0) return next(args);
      left -= 1;
      if (apply) await next(args);
      const error = new Error('socket hang up after the request was sent');
      error.name = 'TimeoutError';
      throw error;
    },
    { step: 'initialize', name: `lose-answers-${ulid()}` },
  );
}

describe.each(['lock', 'atomic'] as const)('a retry with the same Idempotency-Key (%s)', (strategy) => {
  it('turns twenty parallel requests for the last 2 units into one purchase, never a sold-out', async () => {
    const product = await api.product(2, { strategy });
    const buyer = await api.user();
    const key = `key-${ulid()}`;
    const replies = await Promise.all(
      Array.from({ length: 20 }, () =>
        api.request('POST', '/api/purchases', {
          token: buyer.token,
          headers: { 'idempotency-key': key },
          body: { product_id: product.id, quantity: 2 },
        }),
      ),
    );
    const statuses = countStatuses(replies);
    expect(statuses[400] ?? 0).toBe(0);
    expect((statuses[200] ?? 0) + (statuses[409] ?? 0)).toBe(20);
    expect(statuses[200]).toBeGreaterThanOrEqual(1);
    expect(new Set(replies.filter((r) => r.status === 200).map((r) => r.body.id)).size).toBe(1);
    for (const r of replies.filter((r) => r.status === 409)) {
      expect(r.body.code).toBe('PURCHASE_IN_PROGRESS');
      expect(r.headers.get('retry-after')).not.toBeNull();
    }
    const mine = await api.request('GET', '/api/purchases/me', { token: buyer.token });
    expect(mine.body).toHaveLength(1);
    const stock = await api.request('GET', `/api/products/${product.id}/stock`, { token: buyer.token });
    expect(stock.body).toMatchObject({ db_stock: 0, redis_stock: 0 });
  });

  it('answers the first outcome after the first one took the last units', async () => {
    const product = await api.product(1, { strategy });
    const [buyer, rival] = [await api.user(), await api.user()];
    const key = `key-${ulid()}`;
    const send = (token: string, headers: Record<string, string> = {}) =>
      api.request('POST', '/api/purchases', {
        token,
        headers,
        body: { product_id: product.id, quantity: 1 },
      });
    const first = await send(buyer.token, { 'idempotency-key': key });
    expect(first.status).toBe(200);
    expect((await send(rival.token)).status).toBe(400);
    const retry = await send(buyer.token, { 'idempotency-key': key });
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
  });
});

describe('a durable write whose answer is lost', () => {
  it('is resent until DynamoDB says it landed: a 200, its holds committed, nothing released', async () => {
    const doc = dynamo();
    loseTransactionAnswers(doc, 1, true);
    const services = stack({ doc });
    const product = await services.catalog.create({ name: `p-${ulid()}`, price: 100, stock: 5 });
    const purchase = await services.purchaseService.purchase({
      userId: 7,
      items: [{ productId: product.id, quantity: 2 }],
    });
    expect(await services.purchases.get(purchase.id)).toMatchObject({ id: purchase.id, total_price: 200 });
    expect(await services.stock.holds(product.id)).toEqual([]);
    expect((await services.stock.peek(product.id))?.available).toBe(3);
    expect((await services.products.get(product.id, true))?.stock).toBe(3);
  });

  it('is never reported as "nothing bought" while its outcome stays unknown: holds stay for the reconciler', async () => {
    const doc = dynamo();
    loseTransactionAnswers(doc, 100, false);
    const services = stack({ doc });
    const product = await services.catalog.create({ name: `p-${ulid()}`, price: 100, stock: 5 });
    const error = await services.purchaseService
      .purchase({ userId: 7, items: [{ productId: product.id, quantity: 2 }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PurchaseOutcomeUnknownError);
    expect((await services.stock.holds(product.id)).map((h) => h.quantity)).toEqual([2]);
    // The reconciler settles it against DynamoDB: no purchase, so the units go back.
    const healthy = stack({ holdStaleAfterMs: 0 });
    await healthy.reconciler.reconcileProduct((await healthy.products.get(product.id, true))!);
    expect((await healthy.stock.peek(product.id))?.available).toBe(5);
    expect(await healthy.stock.holds(product.id)).toEqual([]);
  });

  it('is reported as not recorded only when DynamoDB certainly refused it, with the holds returned', async () => {
    const doc = dynamo();
    doc.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'TransactWriteItemsCommand') return next(args);
        throw Object.assign(new Error('throttled'), {
          name: 'ThrottlingException',
          $metadata: { httpStatusCode: 400 },
        });
      },
      { step: 'initialize', name: `refuse-${ulid()}` },
    );
    const services = stack({ doc });
    const product = await services.catalog.create({ name: `p-${ulid()}`, price: 100, stock: 5 });
    const error = await services.purchaseService
      .purchase({ userId: 7, items: [{ productId: product.id, quantity: 2 }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PurchaseNotRecordedError);
    expect(await services.stock.holds(product.id)).toEqual([]);
    expect((await services.stock.peek(product.id))?.available).toBe(5);
  });
});

describe('a script resent after its reply was lost', () => {
  it('keeps the lock it already took instead of queueing behind itself', async () => {
    const { redis } = stack();
    const resource = `resent-${ulid()}`;
    const keys = [
      `lock:{${resource}}`,
      `lockq:{${resource}}`,
      `lockqt:{${resource}}`,
      `lockqn:{${resource}}`,
      `lockfence:{${resource}}`,
      `lockwake:{${resource}}:`,
    ] as const;
    // Acquired answers minus the grant's fence; the resend answers the same fence, not a new one.
    const fence = await redis.lockAcquireFair(...keys, 'token-a', 5_000, 1_000);
    expect(fence).toBe(-1);
    expect(await redis.lockAcquireFair(...keys, 'token-a', 5_000, 1_000)).toBe(fence);
    expect(await redis.zcard(keys[1])).toBe(0);
  });
});

describe('units DynamoDB refuses (phantom units)', () => {
  it('leave Redis at once: after one refusal the sold-out crowd stops at Redis', async () => {
    const doc = dynamo();
    let durableWrites = 0;
    doc.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'TransactWriteItemsCommand') durableWrites += 1;
        return next(args);
      },
      { step: 'initialize', name: `count-${ulid()}` },
    );
    const services = stack({ doc });
    const product = await services.catalog.create({ name: `p-${ulid()}`, price: 100, stock: 10 });
    // Redis believes in 10 more units than DynamoDB has (a failover lost the last decrements).
    await services.redis.hset(`stock:{${product.id}}`, 'available', 20);
    const buy = (userId: number) =>
      services.purchaseService
        .purchase({ userId, items: [{ productId: product.id, quantity: 1 }] })
        .then(() => 'bought' as const)
        .catch((e: unknown) => {
          if (e instanceof InsufficientStockError) return 'sold-out' as const;
          if (e instanceof LockNotAcquiredError) return 'busy' as const;
          throw e;
        });
    const outcomes: string[] = [];
    for (let i = 0; i < 15; i++) outcomes.push(await buy(i + 1));
    expect(outcomes.filter((o) => o === 'bought')).toHaveLength(10);
    expect((await services.products.get(product.id, true))?.stock).toBe(0);
    // The 11th buyer reached DynamoDB and was refused; Redis was lowered then, so 12–15 never did.
    expect(durableWrites).toBe(11);
    expect((await services.stock.peek(product.id))?.available).toBe(0);
  });
});
