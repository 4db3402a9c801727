/**
 * The lock's Lua, registered once on the ioredis client (the `scripts` option) so every call runs by
 * EVALSHA with ioredis's NOSCRIPT fallback. Release and extend are compare-then-act on the holder's
 * token: a holder whose lock expired and was taken by someone else can neither release nor extend it.
 *
 * Acquisition is first-come-first-served. Per resource, in one hash slot:
 *   lock:{42}    string  holder's token, PX ttl        (SET NX PX semantics: only set when absent)
 *   lockq:{42}   zset    waiting token -> arrival ticket (the line, in arrival order)
 *   lockqt:{42}  hash    waiting token -> until when (Redis ms) it keeps its place without asking
 *   lockqn:{42}  string  the ticket counter
 * Only the head of the line may take a free lock, so a buyer who came first is served first. A waiter
 * that stops asking (crashed, paused) loses its place once its time runs out, so a dead waiter cannot
 * block the line for longer than that. Every step is O(log n) in the length of the line.
 */
import type { Result } from 'ioredis';
import { NOW_MS } from '../lua.ts';

export const lockScripts = {
  /** 0 = acquired; n > 0 = waiting, n-th in line. */
  lockAcquireFair: {
    numberOfKeys: 4,
    lua: `
${NOW_MS}
local token = ARGV[1]
-- Already ours: a resent script whose reply a dropped connection lost.
if redis.call('GET', KEYS[1]) == token then return 0 end
local head
while true do
  head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if not head then break end
  local until_ms = redis.call('HGET', KEYS[3], head)
  if until_ms and tonumber(until_ms) > now then break end
  redis.call('ZREM', KEYS[2], head)
  redis.call('HDEL', KEYS[3], head)
end
if redis.call('EXISTS', KEYS[1]) == 0 and (not head or head == token) then
  redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
  if head == token then
    redis.call('ZREM', KEYS[2], token)
    redis.call('HDEL', KEYS[3], token)
  end
  return 0
end
if not redis.call('ZSCORE', KEYS[2], token) then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), token)
end
redis.call('HSET', KEYS[3], token, now + tonumber(ARGV[3]))
for i = 2, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[3] * 2) end
return redis.call('ZRANK', KEYS[2], token) + 1`,
  },
  /** A waiter that gives up (sold out, budget spent) leaves the line at once. */
  lockLeave: {
    numberOfKeys: 2,
    lua: `
redis.call('HDEL', KEYS[2], ARGV[1])
return redis.call('ZREM', KEYS[1], ARGV[1])`,
  },
  lockRelease: {
    numberOfKeys: 1,
    lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`,
  },
  /**
   * What an operator sees of a lock: {remaining TTL in ms (-2 free, -1 no TTL), waiters still keeping
   * their place}. Walks the line: O(waiters), for the admin page, never on a purchase's path.
   */
  lockInspect: {
    numberOfKeys: 3,
    lua: `
${NOW_MS}
local ttl = redis.call('PTTL', KEYS[1])
local waiting = 0
for _, token in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local until_ms = redis.call('HGET', KEYS[3], token)
  if until_ms and tonumber(until_ms) > now then waiting = waiting + 1 end
end
return {ttl, waiting}`,
  },
  lockExtend: {
    numberOfKeys: 1,
    lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`,
  },
} as const;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    lockAcquireFair(
      lockKey: string,
      queueKey: string,
      placesKey: string,
      ticketsKey: string,
      token: string,
      ttlMs: number,
      placeTtlMs: number,
    ): Result<number, Context>;
    lockLeave(queueKey: string, placesKey: string, token: string): Result<number, Context>;
    /** 1 = released, 0 = the key holds another token (or none). */
    lockRelease(key: string, token: string): Result<number, Context>;
    lockInspect(lockKey: string, queueKey: string, placesKey: string): Result<[number, number], Context>;
    /** 1 = extended, 0 = the key holds another token (or none). */
    lockExtend(key: string, token: string, ttlMs: number): Result<number, Context>;
  }
}
