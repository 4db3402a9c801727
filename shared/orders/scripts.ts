/**
 * The hot deals' Lua. Per product, in the hash slot of the product's live stock:
 *   stock:{42}         hash  available, price, ...   (shared with ordinary purchases: the same units)
 *   deal:{42}          hash  open (0/1), ends_at_ms (0 = none), max_per_user (0 = none), reservation_ttl_ms
 *   reservations:{42}  hash  <order id> -> "<quantity>:<user id>:<expires_at ms>"
 *   dealusers:{42}     hash  <user id> -> units pending + confirmed in this deal (the cap's count)
 * so at every instant: initial = available + held + reserved + units in durable purchases.
 * Reservations are not holds (holds:{42}) on purpose: the core reconciler releases a hold after 60 s,
 * a reservation lives for its TTL. Times come from Redis's clock (TIME).
 */
import type { Result } from 'ioredis';
import { NOW_MS } from '../lua.ts';

export const orderScripts = {
  /**
   * The whole admission of an order, atomically: live stock known → deal open and inside its window →
   * the buyer's cap → stock → reserve. KEYS stock, deal, reservations, dealusers; ARGV quantity,
   * order id, user id. Returns {1, available, expires_at_ms, price} reserved; {0, available} sold
   * out; {-1} no live stock (Redis lost it); {-2} order id already reserved; {-3} deal not open;
   * {-4, already, cap} over the cap.
   */
  orderReserve: {
    numberOfKeys: 4,
    lua: `
local available = redis.call('HGET', KEYS[1], 'available')
if not available then return {-1} end
local deal = redis.call('HMGET', KEYS[2], 'open', 'ends_at_ms', 'max_per_user', 'reservation_ttl_ms')
if deal[1] ~= '1' then return {-3} end
${NOW_MS}
local ends = tonumber(deal[2] or '0')
if ends > 0 and now >= ends then return {-3} end
local existing = redis.call('HGET', KEYS[3], ARGV[2])
if existing then
  -- A resent script (the reply was lost): this order's reservation is the answer.
  local expires_at = tonumber(string.match(existing, ':(%d+)$'))
  local price_now = tonumber(redis.call('HGET', KEYS[1], 'price') or '0')
  return {1, tonumber(available), expires_at, price_now}
end
local qty = tonumber(ARGV[1])
local cap = tonumber(deal[3] or '0')
local mine = tonumber(redis.call('HGET', KEYS[4], ARGV[3]) or '0')
if cap > 0 and mine + qty > cap then return {-4, mine, cap} end
available = tonumber(available)
if available < qty then return {0, available} end
local expires = now + tonumber(deal[4] or '0')
redis.call('HSET', KEYS[3], ARGV[2], qty .. ':' .. ARGV[3] .. ':' .. expires)
redis.call('HINCRBY', KEYS[4], ARGV[3], qty)
local price = tonumber(redis.call('HGET', KEYS[1], 'price') or '0')
return {1, redis.call('HINCRBY', KEYS[1], 'available', -qty), expires, price}`,
  },
  /**
   * Return a reservation's units, at most once: the reservation is deleted first. KEYS stock,
   * reservations, dealusers; ARGV order id. 1 released, 0 no reservation, 2 dropped (no live stock).
   */
  reservationRelease: {
    numberOfKeys: 3,
    lua: `
local r = redis.call('HGET', KEYS[2], ARGV[1])
if not r then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return 2 end
local qty, user = string.match(r, '^(%d+):([^:]+):')
qty = tonumber(qty)
redis.call('HINCRBY', KEYS[1], 'available', qty)
if redis.call('HINCRBY', KEYS[3], user, -qty) <= 0 then redis.call('HDEL', KEYS[3], user) end
return 1`,
  },
  /** The order is a durable purchase: drop the reservation (the buyer's count stays: it caps them). */
  reservationCommit: {
    numberOfKeys: 1,
    lua: `return redis.call('HDEL', KEYS[1], ARGV[1])`,
  },
  /** A product's reservations with Redis's current time, in one consistent read. */
  reservationsRead: {
    numberOfKeys: 1,
    lua: `
${NOW_MS}
return {now, redis.call('HGETALL', KEYS[1])}`,
  },
  /** Open or reopen the deal: a new deal starts with no buyer counted. KEYS deal, dealusers. */
  dealOpen: {
    numberOfKeys: 2,
    lua: `
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'open', 1, 'ends_at_ms', ARGV[1], 'max_per_user', ARGV[2], 'reservation_ttl_ms', ARGV[3])
return 1`,
  },
  /**
   * Rebuild a product Redis lost during a deal, unless its live stock is back already. KEYS stock,
   * deal, reservations, dealusers; ARGV available, price, strategy, components, open, ends_at_ms,
   * max_per_user, reservation_ttl_ms, n (reservations), then n × (order id, value), then (user, units)...
   */
  dealRestore: {
    numberOfKeys: 4,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[3], KEYS[4])
redis.call('HSET', KEYS[1], 'available', ARGV[1], 'price', ARGV[2], 'strategy', ARGV[3], 'components', ARGV[4])
redis.call('HSET', KEYS[2], 'open', ARGV[5], 'ends_at_ms', ARGV[6], 'max_per_user', ARGV[7], 'reservation_ttl_ms', ARGV[8])
local n = tonumber(ARGV[9])
local i = 10
for _ = 1, n do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i + 1 <= #ARGV do
  redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1])
  i = i + 2
end
return 1`,
  },
} as const;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    orderReserve(
      stockKey: string,
      dealKey: string,
      reservationsKey: string,
      dealUsersKey: string,
      quantity: number,
      orderId: string,
      userId: number,
    ): Result<number[], Context>;
    reservationRelease(
      stockKey: string,
      reservationsKey: string,
      dealUsersKey: string,
      orderId: string,
    ): Result<number, Context>;
    reservationCommit(reservationsKey: string, orderId: string): Result<number, Context>;
    reservationsRead(reservationsKey: string): Result<[number, string[]], Context>;
    dealOpen(
      dealKey: string,
      dealUsersKey: string,
      endsAtMs: number,
      maxPerUser: number,
      reservationTtlMs: number,
    ): Result<number, Context>;
    dealRestore(
      stockKey: string,
      dealKey: string,
      reservationsKey: string,
      dealUsersKey: string,
      ...args: (string | number)[]
    ): Result<number, Context>;
  }
}
