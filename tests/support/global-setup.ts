/**
 * Integration test setup: a private redis-server and an in-memory DynamoDB Local on free ports for
 * this run (never a developer's data, never the machine's shared 6379), the tables created from the
 * CDK stack's definitions, all stopped at the end.
 */
import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal, startRedisServer } from '../../bin/local/processes.ts';
import { createDynamoClient, createTables } from '../../shared/db/index.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    /** `host:port,...` of a Redis Cluster the tests run on; empty for the standalone redis-server. */
    redisClusterNodes: string;
    dynamoEndpoint: string;
  }
}

export async function startDynamoWithTables() {
  const dynamo = await startDynamoDbLocal();
  await createTables(createDynamoClient({ AWS_REGION: 'us-east-1', DYNAMODB_ENDPOINT: dynamo.url }), {
    users: 'users',
    products: 'products',
    purchases: 'purchases',
    orders: 'orders',
    audit: 'audit',
  });
  return dynamo;
}

export default async function setup(project: TestProject) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const [redis, dynamo] = await Promise.all([startRedisServer(), startDynamoWithTables()]);
  project.provide('redisUrl', redis.url);
  project.provide('redisClusterNodes', '');
  project.provide('dynamoEndpoint', dynamo.url);
  return async () => {
    await Promise.all([redis.stop(), dynamo.stop()]);
  };
}
