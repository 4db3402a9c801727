/**
 * The Redis side: one ioredis client per process, with every script registered (shared/redis.ts),
 * and the adapters over it, all in this store's key namespace, each behind the Redis circuit breaker.
 */
import { required } from '../config.ts';
import { RedisLock } from '../lock/redis-lock.ts';
import { logger } from '../logger.ts';
import { RedisDeals } from '../orders/redis-deals.ts';
import { createRedis } from '../redis.ts';
import { RedisStock } from '../stock/redis-stock.ts';
import { behindBreaker } from './breakers.ts';
import { provider } from './provider.ts';
import { secretString } from './secrets.ts';
import { namespace, settings } from './settings.ts';

export const redisClient = provider('redis', { redis: true }, [], async () => {
  const cfg = settings();
  // ElastiCache's AUTH token lives in Secrets Manager; the function reads it at cold start.
  const password = cfg.REDIS_AUTH_SECRET_ARN ? await secretString(cfg.REDIS_AUTH_SECRET_ARN) : undefined;
  const client = createRedis(required(cfg, 'REDIS_URL'), {
    commandTimeout: cfg.REDIS_COMMAND_TIMEOUT_MS,
    ...(password && { password }),
  });
  // Each reconnect attempt of an outage would otherwise print a stack to stderr; the requests it
  // fails are answered and logged (503), and the breaker's state changes are logged once each.
  client.on('error', (error: Error) => logger.debug('redis connection error', { error: error.message }));
  return client;
});

/** The live stock and holds (shared/stock). */
export const liveStock = provider('live-stock', {}, [redisClient], async () =>
  behindBreaker('redis', new RedisStock(await redisClient.get(), { namespace: namespace() })),
);

/** The hot deals' live state: admission, reservations, buyers' counts (shared/orders). */
export const liveDeals = provider('live-deals', {}, [redisClient], async () =>
  behindBreaker('redis', new RedisDeals(await redisClient.get(), namespace()), ['inFlightKeys']),
);

/** The product locks of the `lock` strategy (shared/lock). */
export const productLocks = provider('product-locks', {}, [redisClient], async () =>
  behindBreaker('redis', new RedisLock(await redisClient.get(), {}, namespace())),
);
