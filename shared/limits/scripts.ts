/**
 * The limits' Lua, registered once on the ioredis client (shared/redis.ts). One sorted set per key,
 * entry -> the Redis ms it was added, so a window slides by Redis's clock and every function agrees
 * on it. Each script touches one key, so it runs unchanged on Redis Cluster.
 */
import type { Result } from 'ioredis';
import { NOW_MS } from '../lua.ts';

export const limitScripts = {
  /**
   * ARGV: window ms, max (0: no limit), entry, record (1/0).
   * Returns 0 when admitted (entry added if record), else the ms until the oldest entry leaves.
   */
  windowAdmit: {
    numberOfKeys: 1,
    lua: `
${NOW_MS}
local window = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
-- Already counted: a resent script whose reply a dropped connection lost.
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then return 0 end
if max > 0 and redis.call('ZCARD', KEYS[1]) >= max then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
end
return 0`,
  },
  /** ARGV: window ms, entry. Adds the entry (after trimming) and keeps the key alive a window. */
  windowRecord: {
    numberOfKeys: 1,
    lua: `
${NOW_MS}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`,
  },
} as const;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    windowAdmit(
      key: string,
      windowMs: number,
      max: number,
      entry: string,
      record: 0 | 1,
    ): Result<number, Context>;
    windowRecord(key: string, windowMs: number, entry: string): Result<number, Context>;
  }
}
