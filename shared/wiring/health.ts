/** The health check's provider: a Redis PING and a cheap DynamoDB read. */
import { HealthCheck } from '../health.ts';
import { productTable } from './dynamodb.ts';
import { provider } from './provider.ts';
import { redisClient } from './redis.ts';

export const healthCheck = provider(
  'health',
  {},
  [redisClient, productTable],
  async () => new HealthCheck(await redisClient.get(), await productTable.get()),
);
