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
 *   lockfence:{42} string the fence counter: every grant takes the next value (no TTL, so it only grows)
 *   lockwake:{42}:<token> list  the waiter's wake-up: one element pushed when it may take the lock
 * Only the head of the line may take a free lock, so a buyer who came first is served first. A waiter
 * that stops asking (crashed, paused) loses its place once its time runs out, so a dead waiter cannot
 * block the line for longer than that. Every step is O(log n) in the length of the line.
 *
 * Waiters do not poll: each blocks (BLPOP) on its own wake-up list, and whoever frees the lock or
 * makes a new head pushes to the head's list (a release, a waiter leaving, a waiter that finds an
 * expired holder's lock free). A list rather than pub/sub: a wake-up pushed before the waiter
 * started blocking is still there when it does. The wake-up key is the 6th key, a prefix ending in
 * the hash tag's slot (`lockwake:{42}:`), completed with the head's token inside the script: the
 * token is only known there, and the key stays in the declared key's slot on a cluster.
 */
import type { Result } from 'ioredis';
import { NOW_MS } from '../lua.ts';

/**
 * Lua: drop heads whose place ran out, then wake the head if the lock is free (`lock`, `line`,
 * `places`, `wake` are key names, `now` Redis's clock, `wake_ms` the wake-up's lifetime). At most one
 * wake-up waits in a list: a second would only cost the waiter one more ask.
 */
const WAKE_HEAD = `
local function live_head(line, places)
  while true do
    local head = redis.call('ZRANGE', line, 0, 0)[1]
    if not head then return nil end
    local until_ms = redis.call('HGET', places, head)
    if until_ms and tonumber(until_ms) > now then return head end
    redis.call('ZREM', line, head)
    redis.call('HDEL', places, head)
  end
end
local function wake(prefix, head, wake_ms)
  local key = prefix .. head
  if redis.call('LLEN', key) == 0 then redis.call('RPUSH', key, 1) end
  redis.call('PEXPIRE', key, wake_ms)
end`;

export const lockScripts = {
  /** -fence (< 0) = acquired with that fencing token; n > 0 = waiting, n-th in line. */
  lockAcquireFair: {
    numberOfKeys: 6,
    lua: `
${NOW_MS}
${WAKE_HEAD}
local token = ARGV[1]
-- Already ours: a resent script whose reply a dropped connection lost. Nobody else was granted
-- since, so the counter is still our fence.
if redis.call('GET', KEYS[1]) == token then return -tonumber(redis.call('GET', KEYS[5]) or '0') end
local head = live_head(KEYS[2], KEYS[3])
local free = redis.call('EXISTS', KEYS[1]) == 0
if free and (not head or head == token) then
  redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
  if head == token then
    redis.call('ZREM', KEYS[2], token)
    redis.call('HDEL', KEYS[3], token)
    redis.call('DEL', KEYS[6] .. token)
  end
  return -redis.call('INCR', KEYS[5])
end
if not redis.call('ZSCORE', KEYS[2], token) then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), token)
end
redis.call('HSET', KEYS[3], token, now + tonumber(ARGV[3]))
for i = 2, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[3] * 2) end
-- Free but not ours to take: the holder expired without a release, or the head was never told.
if free and head then wake(KEYS[6], head, ARGV[3]) end
return redis.call('ZRANK', KEYS[2], token) + 1`,
  },
  /**
   * A waiter that gives up (sold out, budget spent, Redis failed) leaves the line at once, and frees
   * the lock if a grant whose reply it lost made it the holder; if the lock is free, the new head is
   * woken (the leaver may have been told it was its turn). ARGV[2]: the wake-up's lifetime.
   */
  lockLeave: {
    numberOfKeys: 4,
    lua: `
${NOW_MS}
${WAKE_HEAD}
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[4] .. ARGV[1])
local left = redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[3]) == 0 then
  local head = live_head(KEYS[1], KEYS[2])
  if head then wake(KEYS[4], head, ARGV[2]) end
end
return left`,
  },
  /**
   * The fair lock's release: compare-then-delete, then wake the head of the line, in one step so the
   * hand-over costs the next holder one ask. 1 = released, 0 = the key holds another token (or none).
   */
  lockReleaseFair: {
    numberOfKeys: 4,
    lua: `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
${NOW_MS}
${WAKE_HEAD}
local head = live_head(KEYS[2], KEYS[3])
if head then wake(KEYS[4], head, ARGV[2]) end
return 1`,
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
  /**
   * A Redlock node's half of a grant: set the lock if free and increment the fence counter, answering
   * it (the Redlock takes the largest of its majority, and has the lower nodes record it with
   * redlockConfirmFence). -1 = busy. Already ours (a resend) answers the counter as it is: nobody
   * else was granted here since.
   */
  redlockAcquire: {
    numberOfKeys: 2,
    lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return tonumber(redis.call('GET', KEYS[2]) or '0')
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return -1`,
  },
  /**
   * Record the grant's fence on this node, only while the grant still holds the lock here: the next
   * holder can take this node only after it, so it increments a counter at least this large.
   * 1 = recorded.
   */
  redlockConfirmFence: {
    numberOfKeys: 2,
    lua: `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(redis.call('GET', KEYS[2]) or '0') < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[2])
end
return 1`,
  },
  /** Raise a fence counter to at least ARGV[1] (never lowers it). Returns the counter. */
  lockFenceAdvance: {
    numberOfKeys: 1,
    lua: `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
  return tonumber(ARGV[1])
end
return current`,
  },
} as const;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    lockAcquireFair(
      lockKey: string,
      queueKey: string,
      placesKey: string,
      ticketsKey: string,
      fenceKey: string,
      wakePrefix: string,
      token: string,
      ttlMs: number,
      placeTtlMs: number,
    ): Result<number, Context>;
    lockLeave(
      queueKey: string,
      placesKey: string,
      lockKey: string,
      wakePrefix: string,
      token: string,
      wakeTtlMs: number,
    ): Result<number, Context>;
    /** 1 = released (and the head of the line woken), 0 = the key holds another token (or none). */
    lockReleaseFair(
      lockKey: string,
      queueKey: string,
      placesKey: string,
      wakePrefix: string,
      token: string,
      wakeTtlMs: number,
    ): Result<number, Context>;
    /** 1 = released, 0 = the key holds another token (or none). */
    lockRelease(key: string, token: string): Result<number, Context>;
    lockInspect(lockKey: string, queueKey: string, placesKey: string): Result<[number, number], Context>;
    /** 1 = extended, 0 = the key holds another token (or none). */
    lockExtend(key: string, token: string, ttlMs: number): Result<number, Context>;
    /** The fence counter incremented by this grant, or -1 when busy. */
    redlockAcquire(key: string, fenceKey: string, token: string, ttlMs: number): Result<number, Context>;
    /** 1 = recorded, 0 = the lock here is not the token's. */
    redlockConfirmFence(key: string, fenceKey: string, token: string, fence: number): Result<number, Context>;
    lockFenceAdvance(fenceKey: string, fence: number): Result<number, Context>;
  }
}
