/**
 * A purchase is priced from the durable product record: a live price that is no longer DynamoDB's
 * (a price change in flight, another store's leftovers) is refused by the durable condition, set
 * right, and the buyer pays the durable price.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/api.ts';
import { services } from '../support/app.ts';
import { dynamo } from '../support/services.ts';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api.close();
});

/** The durable price changes while Redis still holds the old one (as between two steps of a PATCH). */
async function changeDurablePrice(productId: number, price: number) {
  await dynamo().send(
    new UpdateCommand({
      TableName: 'products',
      Key: { id: productId },
      UpdateExpression: 'SET price = :p',
      ExpressionAttributeValues: { ':p': price },
    }),
  );
}

describe.each(['lock', 'atomic'] as const)('a purchase priced from a stale live price (%s)', (strategy) => {
  it('records and answers the durable price, and sets the live price right', async () => {
    const product = await api.product(5, { price: 1_000, strategy });
    await changeDurablePrice(product.id, 2_500);
    const buyer = await api.user();
    const reply = await api.request('POST', '/api/purchases', {
      token: buyer.token,
      body: { product_id: product.id, quantity: 2 },
    });
    expect(reply.status).toBe(200);
    expect(reply.body.total_price).toBe(5_000);
    const { productTable, purchaseHistory, redis } = await services();
    const recorded = await purchaseHistory.get(reply.body.id);
    expect(recorded?.items).toEqual([
      { product_id: product.id, quantity: 2, unit_price: 2_500, total_price: 5_000 },
    ]);
    expect((await productTable.get(product.id, true))?.stock).toBe(3);
    expect(await redis.hget(`stock:{${product.id}}`, 'price')).toBe('2500');
    expect(await redis.hget(`stock:{${product.id}}`, 'available')).toBe('3');
    expect(await redis.hlen(`holds:{${product.id}}`)).toBe(0);
  });

  it('still refuses a sold-out product as sold out, not as a price change', async () => {
    const product = await api.product(1, { price: 1_000, strategy });
    await changeDurablePrice(product.id, 2_000);
    const [first, second] = [await api.user(), await api.user()];
    const bought = await api.request('POST', '/api/purchases', {
      token: first.token,
      body: { product_id: product.id, quantity: 1 },
    });
    expect(bought.status).toBe(200);
    expect(bought.body.total_price).toBe(2_000);
    const refused = await api.request('POST', '/api/purchases', {
      token: second.token,
      body: { product_id: product.id, quantity: 1 },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe('INSUFFICIENT_STOCK');
  });
});
