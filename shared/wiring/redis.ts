/**
 * The Redis side: one ioredis client per process (a standalone Redis, or a Redis Cluster when
 * REDIS_CLUSTER_NODES is set), with every script registered (shared/redis.ts), and the adapters over
 * it, all in this store's key namespace, each behind the Redis circuit breaker. The product locks
 * run on that Redis, or as a Redlock over the independent nodes of REDLOCK_NODES.
 */
import { required } from '../config.ts';
import { RedisLock, RedisLockNode } from '../lock/redis-lock.ts';
import { Redlock } from '../lock/redlock.ts';
import { logger } from '../logger.ts';
import { RedisDeals } from '../orders/redis-deals.ts';
import {
  createLockNode,
  createRedis,
  createRedisCluster,
  isCluster,
  type RedisClient,
  whenReady,
} from '../redis.ts';
import { RedisStock } from '../stock/redis-stock.ts';
import { behindBreaker } from './breakers.ts';
import { provider } from './provider.ts';
import { secretString } from './secrets.ts';
import { namespace, settings } from './settings.ts';

/** ElastiCache's AUTH token lives in Secrets Manager; the function reads it at cold start. */
async function redisPassword(): Promise<string | undefined> {
  const arn = settings().REDIS_AUTH_SECRET_ARN;
  return arn ? secretString(arn) : undefined;
}

export const redisClient = provider('redis', { redis: true }, [], async (): Promise<RedisClient> => {
  const cfg = settings();
  const password = await redisPassword();
  const client: RedisClient =
    cfg.REDIS_CLUSTER_NODES.length > 0
      ? createRedisCluster(cfg.REDIS_CLUSTER_NODES, {
          commandTimeout: cfg.REDIS_COMMAND_TIMEOUT_MS,
          tls: cfg.REDIS_TLS,
          ...(password && { password }),
        })
      : createRedis(required(cfg, 'REDIS_URL'), {
          commandTimeout: cfg.REDIS_COMMAND_TIMEOUT_MS,
          ...(password && { password }),
        });
  // Each reconnect attempt of an outage would otherwise print a stack to stderr; the requests it
  // fails are answered and logged (503), and the breaker's state changes are logged once each.
  client.on('error', (error: Error) => logger.debug('redis connection error', { error: error.message }));
  return client;
});

/**
 * The main client, and REDIS_CONNECTIONS − 1 more connections to the same standalone Redis beside
 * it (closed with it), for the live stock to spread its commands over (RedisStock).
 */
function stockConnections(redis: RedisClient): RedisClient[] {
  const wanted = settings().REDIS_CONNECTIONS;
  if (wanted <= 1 || isCluster(redis)) return [redis];
  const more = Array.from({ length: wanted - 1 }, () => redis.duplicate());
  for (const connection of more) {
    connection.on('error', (error: Error) =>
      logger.debug('redis connection error', { error: error.message }),
    );
    redis.once('end', () => connection.disconnect());
  }
  return [redis, ...more];
}

/** The live stock and holds (shared/stock). On a cluster, carts take per-product holds in order. */
export const liveStock = provider('live-stock', {}, [redisClient], async () => {
  const redis = await redisClient.get();
  return behindBreaker(
    'redis',
    'RedisStock',
    new RedisStock(stockConnections(redis), { namespace: namespace(), multiKeyScripts: !isCluster(redis) }),
  );
});

/** The hot deals' live state: admission, reservations, buyers' counts (shared/orders). */
export const liveDeals = provider('live-deals', {}, [redisClient], async () =>
  behindBreaker('redis', 'RedisDeals', new RedisDeals(await redisClient.get(), namespace()), [
    'inFlightKeys',
  ]),
);

/**
 * The product locks of the `lock` strategy (shared/lock): the single-node lock on the main Redis
 * (first-come-first-served), or a Redlock over REDLOCK_NODES (a majority of independent nodes; see
 * shared/lock/redlock.ts for what it does to the order).
 */
export const productLocks = provider('product-locks', {}, [redisClient], async () => {
  const cfg = settings();
  if (cfg.REDLOCK_NODES.length === 0)
    return behindBreaker('redis', 'RedisLock', new RedisLock(await redisClient.get(), {}, namespace()));
  const password = await redisPassword();
  const clients = cfg.REDLOCK_NODES.map((node) =>
    createLockNode(node, {
      // A partitioned node's commands are dropped, not refused: do not let them pile up.
      commandTimeout: cfg.REDIS_COMMAND_TIMEOUT_MS,
      ...(password && { password }),
      ...(cfg.REDIS_TLS && { tls: {} }),
    }),
  );
  // Connected before the first lock: a node still handshaking would count as failed.
  await Promise.all(clients.map((client) => whenReady(client, 3_000)));
  // No breaker: a Redlock already fails fast when too few nodes answer (quorum unavailable).
  return new Redlock(
    clients.map((client) => new RedisLockNode(client, namespace())),
    {},
    { driftFactor: cfg.REDLOCK_DRIFT_FACTOR, nodeTimeoutMs: cfg.REDLOCK_NODE_TIMEOUT_MS },
  );
});
