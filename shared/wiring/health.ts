/**
 * The health check's provider: a Redis PING and a cheap DynamoDB read, straight to the clients (not
 * through the breakers, so a probe tells whether the service answers now), and the breakers' states.
 */
import { ProductRepository } from '../db/products.ts';
import { HealthCheck } from '../health.ts';
import { breakerStates } from './breakers.ts';
import { documentClient } from './dynamodb.ts';
import { provider } from './provider.ts';
import { redisClient } from './redis.ts';
import { tableName } from './settings.ts';

export const healthCheck = provider(
  'health',
  { tables: ['products'] },
  [redisClient, documentClient],
  async () =>
    new HealthCheck(
      await redisClient.get(),
      new ProductRepository(await documentClient.get(), tableName('products')()),
      2_000,
      breakerStates,
    ),
);
