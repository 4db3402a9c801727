/**
 * The hot deals' Lua. Per product, in the hash slot of the product's live stock:
 *   stock:{42}         hash  available, price, ..., deal (the open deal's generation; absent outside a deal)
 *   holds:{42}         hash  ordinary purchases in flight (the stock capability's)
 *   deal:{42}          hash  open (0/1), generation, ends_at_ms (0 = none), max_per_user (0 = none), reservation_ttl_ms
 *   reservations:{42}  hash  <order id> -> "<quantity>:<user id>:<expires_at ms>:<generation>"
 *   dealusers:{42}     hash  <user id> -> units pending + confirmed in this generation (the cap's fast count)
 * so at every instant: initial + Σ adjustments = available + held + reserved + units in durable
 * purchases. A stock adjustment during a deal moves `available` (the deal's free units) through
 * holds:{42} as it does outside one (shared/stock/adjustments.ts): a removal's hold, an addition's
 * 0-unit mark. dealStart, dealFinish and dealRestore count holds out of the units they load and drop
 * the marks (dropMarks).
 * A sharded product (shared/stock/scripts.ts) is an unsharded one during its deal: dealStart and
 * dealRestore set its shard counters to 0 (DynamoDB pooled their units on the product item) and
 * dealFinish writes them from the shards the units went back to.
 * Reservations are not holds (holds:{42}) on purpose: the core reconciler releases a hold after 60 s,
 * a reservation lives for its TTL. Times come from Redis's clock (TIME): expires_at and every
 * decision about it use that one clock. Redis is the fast gate; DynamoDB's counters (deal_free, the
 * buyer's item) are the final word, so nothing Redis forgets can hand a reserved unit out twice.
 */
import type { Result } from 'ioredis';
import { NOW_MS } from '../lua.ts';

/** Lua: `held` = the units of every hold in KEYS[holds] (ordinary purchases in flight). */
const heldUnits = (holdsKey: string) => `local held = 0
for _, v in ipairs(redis.call('HVALS', ${holdsKey})) do
  held = held + tonumber(string.match(v, '^(%d+)'))
end`;

/**
 * Lua: drop the marks of stock additions on their way in (0-unit holds, stockMark in
 * shared/stock/scripts.ts) from KEYS[holds]. The count a deal's start, end or rebuild sets comes from
 * DynamoDB: it has an addition's units if its write landed, and then the addition's credit must not
 * add them again; without its mark the credit adds nothing (if the write lands only later, Redis shows
 * fewer units than DynamoDB until the reconciler's repair: never more).
 */
const dropMarks = (holdsKey: string) => `local marks = redis.call('HGETALL', ${holdsKey})
for i = 1, #marks, 2 do
  if string.sub(marks[i + 1], 1, 2) == '0:' then redis.call('HDEL', ${holdsKey}, marks[i]) end
end`;

/**
 * Lua: a sharded product on a deal (`shards` > 1): its shard counters at 0, `shards` kept, because
 * DynamoDB pooled every shard's units on the product item, where `available` counts them.
 */
const zeroShards = `
local function zero_shards(key, shards)
  if shards < 2 then return end
  redis.call('HSET', key, 'shards', shards)
  for i = 0, shards - 1 do redis.call('HSET', key, 's' .. i, 0) end
end`;

export const orderScripts = {
  /**
   * The whole admission of an order, atomically: live stock known → deal open and inside its window →
   * the buyer's cap → stock → reserve. KEYS stock, deal, reservations, dealusers; ARGV quantity,
   * order id, user id. Returns {1, available, expires_at_ms, price, generation, now, cap} reserved;
   * {0, available} sold out; {-1} no live stock (Redis lost it); {-3} deal not open; {-4, already, cap}
   * over the cap.
   */
  orderReserve: {
    numberOfKeys: 4,
    lua: `
local available = redis.call('HGET', KEYS[1], 'available')
if not available then return {-1} end
local deal = redis.call('HMGET', KEYS[2], 'open', 'ends_at_ms', 'max_per_user', 'reservation_ttl_ms', 'generation')
if deal[1] ~= '1' then return {-3} end
${NOW_MS}
local ends = tonumber(deal[2] or '0')
if ends > 0 and now >= ends then return {-3} end
local generation = tonumber(deal[5] or '0')
local price = tonumber(redis.call('HGET', KEYS[1], 'price') or '0')
local existing = redis.call('HGET', KEYS[3], ARGV[2])
if existing then
  -- A resent script (the reply was lost): this order's reservation is the answer.
  local expires_at = tonumber(string.match(existing, '^%d+:[^:]+:(%d+)'))
  return {1, tonumber(available), expires_at, price, generation, now, tonumber(deal[3] or '0')}
end
local qty = tonumber(ARGV[1])
local cap = tonumber(deal[3] or '0')
local mine = tonumber(redis.call('HGET', KEYS[4], ARGV[3]) or '0')
if cap > 0 and mine + qty > cap then return {-4, mine, cap} end
available = tonumber(available)
if available < qty then return {0, available} end
local expires = now + tonumber(deal[4] or '0')
redis.call('HSET', KEYS[3], ARGV[2], qty .. ':' .. ARGV[3] .. ':' .. expires .. ':' .. generation)
redis.call('HINCRBY', KEYS[4], ARGV[3], qty)
return {1, redis.call('HINCRBY', KEYS[1], 'available', -qty), expires, price, generation, now, cap}`,
  },
  /**
   * Return a reservation's units, at most once: the reservation is deleted first. The buyer's count
   * goes down only when the reservation belongs to the deal now running: an old deal's release never
   * lowers a new deal's cap counter. KEYS stock, reservations, dealusers, deal; ARGV order id.
   * 1 released, 0 no reservation, 2 dropped (no live stock).
   */
  reservationRelease: {
    numberOfKeys: 4,
    lua: `
local r = redis.call('HGET', KEYS[2], ARGV[1])
if not r then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return 2 end
local qty, user, generation = string.match(r, '^(%d+):([^:]+):%d+:?(%d*)$')
qty = tonumber(qty)
redis.call('HINCRBY', KEYS[1], 'available', qty)
local current = redis.call('HGET', KEYS[4], 'generation') or '0'
if (generation == '' and '0' or generation) == current then
  if redis.call('HINCRBY', KEYS[3], user, -qty) <= 0 then redis.call('HDEL', KEYS[3], user) end
end
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
  /** Redis's clock in ms: the one time base of expires_at and of every decision about it. */
  dealClock: {
    numberOfKeys: 0,
    lua: `
${NOW_MS}
return now`,
  },
  /**
   * Open deal `generation` in one step, from the durable units a deal may sell (`free`, read after
   * DynamoDB opened the deal, so no ordinary purchase can land any more): available = free minus the
   * ordinary purchases still in flight (DynamoDB refuses them now; each one's release brings its
   * units back), the stock marked as on a deal (ordinary purchases refused), the old deal's
   * reservations and counts dropped (DynamoDB had none PENDING). A second call for the same
   * generation changes nothing (a rerun after a crash never loads the stock twice).
   * A sharded product's shard counters go to 0 (DynamoDB pooled their units on the product item).
   * KEYS stock, holds, deal, reservations, dealusers; ARGV generation, free, price, strategy,
   * components, ends_at_ms, max_per_user, reservation_ttl_ms, shards. 1 started, 0 already started.
   */
  dealStart: {
    numberOfKeys: 5,
    lua: `${zeroShards}
if redis.call('HGET', KEYS[3], 'generation') == ARGV[1] and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
${heldUnits('KEYS[2]')}
${dropMarks('KEYS[2]')}
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5])
redis.call('HSET', KEYS[1], 'available', math.max(0, tonumber(ARGV[2]) - held), 'price', ARGV[3],
  'strategy', ARGV[4], 'components', ARGV[5], 'deal', ARGV[1])
zero_shards(KEYS[1], tonumber(ARGV[9]) or 1)
redis.call('HSET', KEYS[3], 'open', 1, 'generation', ARGV[1], 'ends_at_ms', ARGV[6], 'max_per_user', ARGV[7],
  'reservation_ttl_ms', ARGV[8])
return 1`,
  },
  /**
   * The end's last step, once DynamoDB has no PENDING order left: the product is an ordinary one again
   * with available = durable stock minus ordinary purchases in flight. A sharded product (ARGV[2..]:
   * its durable stock per shard, the pool already returned to them) gets its shard counters back,
   * each minus the units held from it; a hold that names no shard (an adjustment's removal taken
   * during the deal, from the pool) is taken from the fullest shards and rewritten to name them, so
   * its release or its durable removal finds them. KEYS stock, holds, deal, reservations, dealusers;
   * ARGV durable stock, then the shards'. 1 done, 0 no live stock (the next restore loads it).
   */
  dealFinish: {
    numberOfKeys: 5,
    lua: `
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5])
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
${dropMarks('KEYS[2]')}
redis.call('HDEL', KEYS[1], 'deal')
local shards = #ARGV - 1
if shards < 2 then
  ${heldUnits('KEYS[2]')}
  redis.call('HSET', KEYS[1], 'available', math.max(0, tonumber(ARGV[1]) - held))
  return 1
end
local counts = {}
for i = 1, shards do counts[i] = tonumber(ARGV[i + 1]) end
local holds = redis.call('HGETALL', KEYS[2])
local unnamed = {}
for i = 1, #holds, 2 do
  local spec = string.match(holds[i + 1], '^%d+:%d+:(.+)$')
  if spec then
    for shard, n in string.gmatch(spec, '(%d+)%.(%d+)') do
      counts[tonumber(shard) + 1] = counts[tonumber(shard) + 1] - tonumber(n)
    end
  else
    table.insert(unnamed, i)
  end
end
for i = 1, shards do counts[i] = math.max(0, counts[i]) end
for _, i in ipairs(unnamed) do
  local qty, at = string.match(holds[i + 1], '^(%d+):(%d+)')
  local left = tonumber(qty)
  local parts = {}
  while left > 0 do
    local best = 1
    for j = 2, shards do if counts[j] > counts[best] then best = j end end
    local n = math.min(left, counts[best])
    if n == 0 then break end
    counts[best] = counts[best] - n
    table.insert(parts, (best - 1) .. '.' .. n)
    left = left - n
  end
  if #parts > 0 then redis.call('HSET', KEYS[2], holds[i], qty .. ':' .. at .. ':' .. table.concat(parts, ',')) end
end
local available = 0
for i = 1, shards do
  redis.call('HSET', KEYS[1], 's' .. (i - 1), counts[i])
  available = available + counts[i]
end
redis.call('HSET', KEYS[1], 'available', available, 'shards', shards)
return 1`,
  },
  /**
   * Rebuild a product Redis lost during a deal, unless its live stock is back already. `available`
   * is DynamoDB's deal_free (one consistent read, exact whatever an index shows); the reservations
   * and counts come from the orders and only serve expiry and the fast cap check. KEYS stock, holds,
   * deal, reservations, dealusers; ARGV available, price, strategy, components, open, ends_at_ms,
   * max_per_user, reservation_ttl_ms, generation, shards (a sharded product's counters are rebuilt
   * at 0: its units are pooled), n (reservations), then n × (order id, value), then (user, units)...
   */
  dealRestore: {
    numberOfKeys: 5,
    lua: `${zeroShards}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
${heldUnits('KEYS[2]')}
${dropMarks('KEYS[2]')}
redis.call('DEL', KEYS[4], KEYS[5])
redis.call('HSET', KEYS[1], 'available', math.max(0, tonumber(ARGV[1]) - held), 'price', ARGV[2],
  'strategy', ARGV[3], 'components', ARGV[4])
-- On a deal until its end has finished: ordinary purchases stay refused.
redis.call('HSET', KEYS[1], 'deal', ARGV[9])
redis.call('HSET', KEYS[3], 'open', ARGV[5], 'ends_at_ms', ARGV[6], 'max_per_user', ARGV[7],
  'reservation_ttl_ms', ARGV[8], 'generation', ARGV[9])
zero_shards(KEYS[1], tonumber(ARGV[10]) or 1)
local n = tonumber(ARGV[11])
local i = 12
for _ = 1, n do
  redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i + 1 <= #ARGV do
  redis.call('HSET', KEYS[5], ARGV[i], ARGV[i + 1])
  i = i + 2
end
return 1`,
  },
  /**
   * Put back the reservation of a durable PENDING order that Redis no longer has (a failover lost
   * the order's admission: its reservation, its decrement and the buyer's count). `available` is not
   * touched: the units were taken from it before the loss, and the deal's repair (below) sets it from
   * DynamoDB's free units, which exclude this order. The buyer's count goes up only for the deal now
   * running, as the release takes it down only for that deal. KEYS stock, reservations, dealusers,
   * deal; ARGV order id, value "<quantity>:<user id>:<expires_at ms>:<generation>", user id, quantity,
   * generation. 1 put back, 0 already there, -2 no live stock or deal (the restore rebuilds both).
   */
  reservationRestore: {
    numberOfKeys: 4,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[4]) == 0 then return -2 end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return 0 end
if (redis.call('HGET', KEYS[4], 'generation') or '0') == ARGV[5] then
  redis.call('HINCRBY', KEYS[3], ARGV[3], ARGV[4])
end
return 1`,
  },
  /**
   * Set a deal's `available` to DynamoDB's free units once every reservation in Redis is known to be
   * a durable PENDING order (so none is in flight): only if no ordinary hold exists, the reservations
   * are exactly the `expected` orders (ids, not a count: a release and a new reservation in between
   * would keep the count), and `available` still reads `observed` (anything in between changes one
   * of them). KEYS stock, holds, reservations; ARGV observed, target, then the expected order ids.
   * 1 repaired, 0 something in flight, -1 changed meanwhile, -2 no live stock.
   */
  dealRepair: {
    numberOfKeys: 3,
    lua: `
if redis.call('HLEN', KEYS[2]) > 0 then return 0 end
if redis.call('HLEN', KEYS[3]) ~= #ARGV - 2 then return 0 end
for i = 3, #ARGV do
  if redis.call('HEXISTS', KEYS[3], ARGV[i]) == 0 then return 0 end
end
local available = redis.call('HGET', KEYS[1], 'available')
if not available then return -2 end
if available ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[1], 'available', ARGV[2])
return 1`,
  },
  /**
   * DynamoDB refused an order Redis admitted (Redis forgot reserved units: a failover lost the last
   * writes, a restore ran ahead of an order write): lower `available` to DynamoDB's free units at
   * once, never raise it. KEYS stock; ARGV free. The units now available, -1 without live stock.
   */
  dealLowerTo: {
    numberOfKeys: 1,
    lua: `
local available = redis.call('HGET', KEYS[1], 'available')
if not available then return -1 end
local ceiling = math.max(0, tonumber(ARGV[1]))
if tonumber(available) > ceiling then
  redis.call('HSET', KEYS[1], 'available', ceiling)
  return ceiling
end
return tonumber(available)`,
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
      dealKey: string,
      orderId: string,
    ): Result<number, Context>;
    reservationCommit(reservationsKey: string, orderId: string): Result<number, Context>;
    reservationsRead(reservationsKey: string): Result<[number, string[]], Context>;
    dealClock(): Result<number, Context>;
    dealStart(
      stockKey: string,
      holdsKey: string,
      dealKey: string,
      reservationsKey: string,
      dealUsersKey: string,
      ...args: (string | number)[]
    ): Result<number, Context>;
    dealFinish(
      stockKey: string,
      holdsKey: string,
      dealKey: string,
      reservationsKey: string,
      dealUsersKey: string,
      durableStock: number,
      ...shardStock: number[]
    ): Result<number, Context>;
    dealRestore(
      stockKey: string,
      holdsKey: string,
      dealKey: string,
      reservationsKey: string,
      dealUsersKey: string,
      ...args: (string | number)[]
    ): Result<number, Context>;
    dealLowerTo(stockKey: string, free: number): Result<number, Context>;
    reservationRestore(
      stockKey: string,
      reservationsKey: string,
      dealUsersKey: string,
      dealKey: string,
      orderId: string,
      value: string,
      userId: number,
      quantity: number,
      generation: number,
    ): Result<number, Context>;
    dealRepair(
      stockKey: string,
      holdsKey: string,
      reservationsKey: string,
      observed: string,
      target: number,
      ...expected: string[]
    ): Result<number, Context>;
  }
}
