/**
 * The ioredis client with every Lua script of the lock-and-stock library registered once, so each
 * call runs by EVALSHA with ioredis's NOSCRIPT fallback.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { lockScripts } from './lock/scripts.ts';
import { orderScripts } from './orders/scripts.ts';
import { stockScripts } from './stock/scripts.ts';

export function createRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    scripts: { ...lockScripts, ...stockScripts, ...orderScripts },
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
