/**
 * Integration test setup: a private redis-server and an in-memory DynamoDB Local on free ports for
 * this run (never a developer's data, never the machine's shared 6379), the tables created from the
 * CDK stack's definitions, all stopped at the end.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal, startRedisServer } from '../../bin/local/processes.ts';
import { createDocumentClient, createDynamoClient, createTables } from '../../shared/db/index.ts';
import { SEQUENCE_SHARDS } from '../../shared/db/users.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    /** `host:port,...` of a Redis Cluster the tests run on; empty for the standalone redis-server. */
    redisClusterNodes: string;
    dynamoEndpoint: string;
  }
}

/**
 * Service-level tests buy as made-up users (ids 1, 2, 41, 1000 + i, ...) without signing them up. Every
 * file shares this DynamoDB, so a user signed up through the API must never get one of those ids, or
 * their purchase list shows a stranger's purchases. Signed-up ids start at SIGNED_UP_IDS_FROM.
 */
export const SIGNED_UP_IDS_FROM = 1_000_000 * SEQUENCE_SHARDS;

export async function startDynamoWithTables() {
  const dynamo = await startDynamoDbLocal();
  const config = { AWS_REGION: 'us-east-1', DYNAMODB_ENDPOINT: dynamo.url };
  // A DynamoDB Local that has just started, on a busy machine, sometimes resets a connection: both
  // steps are idempotent (existing tables are kept, the counters written again), so try again on a
  // fresh client rather than fail every test of the run.
  for (let attempt = 1; ; attempt++) {
    try {
      await createTables(createDynamoClient(config), {
        users: 'users',
        products: 'products',
        purchases: 'purchases',
        orders: 'orders',
        audit: 'audit',
      });
      const doc = createDocumentClient(config);
      for (let shard = 0; shard < SEQUENCE_SHARDS; shard++) {
        await doc.send(
          new PutCommand({
            TableName: 'users',
            Item: { pk: `SEQUENCE#${shard}`, next_id: SIGNED_UP_IDS_FROM / SEQUENCE_SHARDS },
          }),
        );
      }
      return dynamo;
    } catch (error) {
      if (attempt >= 5) throw error;
      await sleep(1_000);
    }
  }
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
