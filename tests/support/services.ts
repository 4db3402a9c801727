/**
 * Building the lock-and-stock services by hand for fault-injection tests: the same classes as
 * shared/services.ts, over the test Redis and DynamoDB Local, with a seam to break one of them.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Cluster } from 'ioredis';
import { inject } from 'vitest';
import { createDocumentClient, ProductRepository, PurchaseRepository } from '../../shared/db/index.ts';
import { type AcquireOptions, type DistributedLock, RedisLock } from '../../shared/lock/index.ts';
import { createRedis, createRedisCluster, type RedisClient } from '../../shared/redis.ts';
import {
  type EventLog,
  ProductService,
  PurchaseService,
  Reconciler,
  RedisStock,
} from '../../shared/stock/index.ts';

export const quietLog: EventLog & {
  lines: { level: string; message: string; fields: Record<string, unknown> }[];
} = {
  lines: [],
  info(message, fields) {
    this.lines.push({ level: 'info', message, fields });
  },
  warn(message, fields) {
    this.lines.push({ level: 'warn', message, fields });
  },
  error(message, fields) {
    this.lines.push({ level: 'error', message, fields });
  },
};

/** A client of the test Redis: the cluster on the cluster project, the redis-server otherwise. */
export function testRedis(): RedisClient {
  const nodes = inject('redisClusterNodes');
  if (!nodes) return createRedis(inject('redisUrl'));
  return createRedisCluster(
    nodes.split(',').map((address) => {
      const [host = '127.0.0.1', port = '0'] = address.split(':');
      return { host, port: Number(port) };
    }),
  );
}

/** Empty the whole test Redis: every primary of a cluster (FLUSHALL acts on one node only). */
export async function flushAll(redis: RedisClient): Promise<void> {
  if (redis.isCluster) await Promise.all((redis as Cluster).nodes('master').map((node) => node.flushall()));
  else await redis.flushall();
}

export function dynamo(): DynamoDBDocumentClient {
  return createDocumentClient({ AWS_REGION: 'us-east-1', DYNAMODB_ENDPOINT: inject('dynamoEndpoint') });
}

/** Make every call of the named DynamoDB operations fail, as an outage or a throttle would. */
/**
 * DynamoDB's definite refusal of a call (a 4xx: throttled, say): nothing was applied. The default
 * injected failure has no answer at all, so its outcome is unknown.
 */
export const refusal = () =>
  Object.assign(new Error('injected DynamoDB refusal'), {
    name: 'ProvisionedThroughputExceededException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
  });

export function breakOperations(
  doc: DynamoDBDocumentClient,
  operations: readonly string[],
  error = () => new Error('injected DynamoDB failure'),
) {
  doc.middlewareStack.add(
    (next, context) => async (args) => {
      if (operations.includes(String(context.commandName))) throw error();
      return next(args);
    },
    { step: 'initialize', name: `break-${operations.join('-')}` },
  );
}

/**
 * Hold every call of the named DynamoDB operations at a gate until `open()`: requests in flight stay
 * in flight (their Redis holds taken, their durable write not sent) for as long as a test needs.
 * `arrived` counts the calls that reached the gate; after `open()` calls pass straight through.
 */
export function gateOperations(doc: DynamoDBDocumentClient, operations: readonly string[]) {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  const gate = { arrived: 0, open: () => open() };
  doc.middlewareStack.add(
    (next, context) => async (args) => {
      if (operations.includes(String(context.commandName))) {
        gate.arrived += 1;
        await opened;
      }
      return next(args);
    },
    { step: 'initialize', name: `gate-${operations.join('-')}` },
  );
  return gate;
}

/** Let the named operations reach DynamoDB and then throw, as a timeout after a write that was applied. */
export function loseAnswers(doc: DynamoDBDocumentClient, operations: readonly string[]) {
  doc.middlewareStack.add(
    (next, context) => async (args) => {
      const output = await next(args);
      if (operations.includes(String(context.commandName)))
        throw new Error('injected: the answer was lost after DynamoDB applied the write');
      return output;
    },
    { step: 'initialize', name: `lose-${operations.join('-')}` },
  );
}

export function stack(
  options: {
    redis?: RedisClient;
    doc?: DynamoDBDocumentClient;
    holdStaleAfterMs?: number;
    lockOptions?: Omit<AcquireOptions, 'beforeRetry'>;
    /** The product locks; the single-node lock on `redis` by default. */
    locks?: DistributedLock;
  } = {},
) {
  const redis = options.redis ?? testRedis();
  const doc = options.doc ?? dynamo();
  const products = new ProductRepository(doc, 'products');
  const purchases = new PurchaseRepository(doc, 'purchases', 'products');
  const stock = new RedisStock(redis);
  const locks = options.locks ?? new RedisLock(redis);
  return {
    redis,
    doc,
    products,
    purchases,
    stock,
    // Products are set up through a client of their own: the faults a test injects into `doc` are
    // meant for the sale, not for creating the product it sells.
    catalog: new ProductService(new ProductRepository(dynamo(), 'products'), stock, 'lock'),
    purchaseService: new PurchaseService({
      stock,
      locks,
      products,
      purchases,
      log: quietLog,
      // The same generous wait budget as the HTTP tests (tests/support/env.ts): exactness, not speed.
      lockOptions: options.lockOptions ?? { waitBudgetMs: Number(process.env.LOCK_WAIT_BUDGET_MS ?? 20_000) },
    }),
    reconciler: new Reconciler({
      stock,
      products,
      purchases,
      fences: locks,
      log: quietLog,
      holdStaleAfterMs: options.holdStaleAfterMs ?? 0,
    }),
  };
}
