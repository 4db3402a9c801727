/**
 * The local store: its tables (from the CDK stack's definitions), its id, and its mark in Redis.
 * Several stores may share one Redis (two checkouts, two data folders, tables recreated while Redis
 * kept its keys); each store's keys carry its id as a namespace (shared/redis.ts), so they never
 * mix. Start-up says when the Redis also holds another store's keys.
 */
import type { Redis } from 'ioredis';
import { type Config, required } from '../../shared/config.ts';
import {
  createDocumentClient,
  createDynamoClient,
  createTables,
  ProductRepository,
} from '../../shared/db/index.ts';
import { createRedis, createRedisCluster, storeMarkerKey } from '../../shared/redis.ts';

/** Every key matching `match`, on a single Redis or on every primary of a cluster. */
async function* scanKeys(cfg: Config, match: string): AsyncGenerator<string[]> {
  const cluster =
    cfg.REDIS_CLUSTER_NODES.length > 0
      ? createRedisCluster(cfg.REDIS_CLUSTER_NODES, {
          tls: cfg.REDIS_TLS,
          redisOptions: { maxRetriesPerRequest: 1 },
        })
      : undefined;
  const clients: Redis[] = cluster
    ? await cluster.connect().then(() => cluster.nodes('master'))
    : [createRedis(required(cfg, 'REDIS_URL'), { maxRetriesPerRequest: 1 })];
  try {
    for (const client of clients) {
      for await (const keys of client.scanStream({ match, count: 1000 })) yield keys as string[];
    }
  } finally {
    if (cluster) cluster.disconnect();
    else for (const client of clients) client.disconnect();
  }
}

/** Create the tables, read (or create) the store id, and mark the Redis. Returns the store id. */
export async function prepareStore(cfg: Config, log: (line: string) => void): Promise<string> {
  const created = await createTables(createDynamoClient(cfg), {
    users: required(cfg, 'USERS_TABLE'),
    products: required(cfg, 'PRODUCTS_TABLE'),
    purchases: required(cfg, 'PURCHASES_TABLE'),
    orders: required(cfg, 'ORDERS_TABLE'),
    audit: required(cfg, 'AUDIT_TABLE'),
  });
  if (created.length > 0) log(`created tables: ${created.join(', ')}`);
  const storeId =
    cfg.STORE_ID ||
    (await new ProductRepository(createDocumentClient(cfg), required(cfg, 'PRODUCTS_TABLE')).storeId());

  const redis =
    cfg.REDIS_CLUSTER_NODES.length > 0
      ? createRedisCluster(cfg.REDIS_CLUSTER_NODES, { tls: cfg.REDIS_TLS })
      : createRedis(required(cfg, 'REDIS_URL'), { maxRetriesPerRequest: 1 });
  try {
    const others = new Set<string>();
    let legacy = false;
    for await (const keys of scanKeys(cfg, 'fs:*:marker')) {
      for (const key of keys) {
        const id = key.slice('fs:'.length, -':marker'.length);
        if (id !== storeId) others.add(id);
      }
    }
    for await (const keys of scanKeys(cfg, 'stock:{*}')) {
      if (keys.length > 0) legacy = true;
    }
    await redis.set(storeMarkerKey(storeId), new Date().toISOString());
    if (others.size > 0 || legacy) {
      const whose = [
        ...(others.size > 0 ? [`store${others.size > 1 ? 's' : ''} ${[...others].join(', ')}`] : []),
        ...(legacy ? ['keys without a store namespace (an older version)'] : []),
      ].join(' and ');
      log(
        `note: this Redis also holds ${whose}; this store's keys are namespaced fs:${storeId}:, so nothing is shared`,
      );
    }
  } finally {
    redis.disconnect();
  }
  log(`store ${storeId} (Redis keys fs:${storeId}:...)`);
  return storeId;
}
