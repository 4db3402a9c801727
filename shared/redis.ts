/**
 * The ioredis client with every Lua script of the lock-and-stock library registered once, so each
 * call runs by EVALSHA with ioredis's NOSCRIPT fallback.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { limitScripts } from './limits/scripts.ts';
import { lockScripts } from './lock/scripts.ts';
import { orderScripts } from './orders/scripts.ts';
import { stockScripts } from './stock/scripts.ts';

/**
 * The prefix of every key of one store (one set of tables). Two stores may share a Redis: two
 * checkouts, two local data folders, two stages on one cache, or tables recreated while Redis kept
 * its keys. The hash tags (`{42}`) come after the prefix, so Redis Cluster still keeps a product's
 * keys in one slot. An empty store id means no prefix (tests that own their Redis).
 */
export const keyNamespace = (storeId: string | undefined): string => (storeId ? `fs:${storeId}:` : '');

/** The key that says a store uses this Redis (read by `npm start` to notice other stores). */
export const storeMarkerKey = (storeId: string) => `fs:${storeId}:marker`;

export function createRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    scripts: { ...lockScripts, ...stockScripts, ...orderScripts, ...limitScripts },
    // Concurrent requests in one process (the local runtime) share round trips.
    enableAutoPipelining: true,
    // Fail a request fast rather than queue it behind a dead connection; the caller answers 503.
    maxRetriesPerRequest: 2,
    connectTimeout: 3_000,
    // Connect on the first command: functions that never touch Redis never open a connection.
    lazyConnect: true,
    ...options,
  });
}
