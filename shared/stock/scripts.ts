/**
 * The stock's Lua. Each product has two keys in one hash slot:
 *   stock:{42}  hash  available, price, strategy, components, cap   (the live gate in front of DynamoDB;
 *                     `cap`: the per-buyer cap of plain purchases, absent when there is none)
 *   holds:{42}  hash  <purchase id> -> "<quantity>:<redis time ms>"   (units taken, not yet settled)
 * so at every instant: initial stock = available + held units + units in durable purchases.
 * Times come from Redis's own clock (TIME), so every function and the reconciler agree on a hold's age.
 *
 * A sharded product (stock_shards K > 1) also has, in stock:{42}: `shards` = K, `s0`..`s<K-1>` the
 * available units of each DynamoDB stock shard (Σ = available, always), and `cursor`, which turns the
 * first shard tried so consecutive buyers write different shard items. Its holds name their shards:
 * "<quantity>:<ms>:<shard>.<units>[,<shard>.<units>...]", so the durable write, the release and the
 * reconciler all go to the shards the units came from. Everything stays under the product's hash tag.
 * During a hot deal the shard counters are 0: the deal pooled the units (shared/orders/scripts.ts),
 * and releases and credits then go to `available` alone, until the deal's finish writes them again.
 */
import type { Result } from 'ioredis';
import { NOW_MS } from '../lua.ts';

/**
 * Lua: take `qty` units from a sharded product's shard counters (the caller has checked that their
 * Σ, `available`, covers it). The first shard from the cursor that holds all of them gives them, so
 * a sale writes exactly one shard item; only when no single shard holds the quantity (the end of a
 * sale) do the fullest shards give them together, so nobody is told "sold out" while units remain.
 * Returns the taken units as "<shard>.<units>[,...]".
 */
const TAKE_SHARDS = `
local function take_shards(key, shards, qty)
  local fields = {}
  for i = 0, shards - 1 do fields[i + 1] = 's' .. i end
  local counts = redis.call('HMGET', key, unpack(fields))
  for i = 1, shards do counts[i] = tonumber(counts[i]) or 0 end
  local start = redis.call('HINCRBY', key, 'cursor', 1) % shards
  for step = 0, shards - 1 do
    local i = (start + step) % shards
    if counts[i + 1] >= qty then
      redis.call('HINCRBY', key, 's' .. i, -qty)
      return i .. '.' .. qty
    end
  end
  local order = {}
  for i = 0, shards - 1 do order[i + 1] = i end
  table.sort(order, function(a, b) return counts[a + 1] > counts[b + 1] end)
  local parts = {}
  local left = qty
  for _, i in ipairs(order) do
    if left == 0 then break end
    local n = math.min(left, counts[i + 1])
    if n > 0 then
      redis.call('HINCRBY', key, 's' .. i, -n)
      table.insert(parts, i .. '.' .. n)
      left = left - n
    end
  end
  return table.concat(parts, ',')
end`;

/** Lua: the shards part of a hold's value ('' for an unsharded product's hold). */
const SHARDS_OF_HOLD = `
local function shards_of_hold(hold)
  return string.match(hold, '^%d+:%d+:(.+)$') or ''
end`;

/** Lua: give units back to the shard counters named by "<shard>.<units>[,...]". */
const GIVE_SHARDS = `
local function give_shards(key, spec)
  for shard, n in string.gmatch(spec, '(%d+)%.(%d+)') do
    redis.call('HINCRBY', key, 's' .. shard, tonumber(n))
  end
end`;

/** Lua: write a sharded product's shard counters from ARGV[first..] (nothing when there are none). */
const PUT_SHARDS = `
local function put_shards(key, first)
  local shards = #ARGV - first + 1
  if shards < 2 then return end
  redis.call('HSET', key, 'shards', shards, 'cursor', 0)
  for i = 0, shards - 1 do redis.call('HSET', key, 's' .. i, ARGV[first + i]) end
end`;

export const stockScripts = {
  /**
   * Check and decrement atomically, recording the hold. Returns {code, available, shards}: 1
   * reserved, 0 short, -1 no live stock, -3 the product is on a hot deal (sold only through its
   * orders); `shards` is the hold's "<shard>.<units>[,...]" on a sharded product, '' otherwise.
   * ARGV[3] = '1' (a stock adjustment removing units) takes them from whatever `available` is, a hot
   * deal's free units included: they leave the deal's pool as they would leave an ordinary sale's. A hold
   * with this id already there is success: ioredis resends a script whose reply a dropped connection
   * lost, and the purchase claim (one request per purchase id) rules out a second request with the
   * same id.
   */
  stockReserve: {
    numberOfKeys: 2,
    lua: `${TAKE_SHARDS}${SHARDS_OF_HOLD}
local qty = tonumber(ARGV[1])
local state = redis.call('HMGET', KEYS[1], 'available', 'shards')
if not state[1] then return {-1, 0} end
local available = tonumber(state[1])
local held = redis.call('HGET', KEYS[2], ARGV[2])
if held then return {1, available, shards_of_hold(held)} end
if ARGV[3] ~= '1' and redis.call('HEXISTS', KEYS[1], 'deal') == 1 then return {-3, available} end
if available < qty then return {0, available} end
${NOW_MS}
local shards = tonumber(state[2]) or 1
if shards > 1 then
  local spec = take_shards(KEYS[1], shards, qty)
  redis.call('HSET', KEYS[2], ARGV[2], qty .. ':' .. now .. ':' .. spec)
  return {1, redis.call('HINCRBY', KEYS[1], 'available', -qty), spec}
end
redis.call('HSET', KEYS[2], ARGV[2], qty .. ':' .. now)
return {1, redis.call('HINCRBY', KEYS[1], 'available', -qty), ''}`,
  },
  /**
   * Return a hold's units (INCRBY, never SET), at most once: the hold is deleted in the same step.
   * On a hot deal, a sharded product's units go to `available` alone: the deal pooled the shards'.
   */
  stockRelease: {
    numberOfKeys: 2,
    lua: `${SHARDS_OF_HOLD}${GIVE_SHARDS}
local hold = redis.call('HGET', KEYS[2], ARGV[1])
if not hold then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return 2 end
local qty = tonumber(string.match(hold, '^(%d+):'))
-- During a hot deal a sharded product's units are pooled (the shard counters stay 0): the deal's.
if redis.call('HEXISTS', KEYS[1], 'deal') == 0 then give_shards(KEYS[1], shards_of_hold(hold)) end
redis.call('HINCRBY', KEYS[1], 'available', qty)
return 1`,
  },
  /**
   * Every line of a cart checked first, then all decremented or none, with one hold per product under
   * the same purchase id. KEYS: stock1, holds1, stock2, holds2, ...; ARGV: hold id, q1, q2, ...
   * Returns {1, shards_1, ..., shards_n} reserved (also when every line already holds this id: a
   * resent script), shards_i the line's "<shard>.<units>[,...]" ('' when unsharded); {-1, i}
   * line i has no live stock; {-2, i} line i, but not every line, already holds this id; {-3, i}
   * line i is on a hot deal;
   * {0, i, available_i, j, available_j, ...} the lines that fall short. Its keys span products, so it
   * runs where all keys live on one node (a standalone or primary/replica Redis); on Redis Cluster the
   * caller takes per-product holds in order with compensation instead (redis-stock.ts).
   */
  stockReserveMany: {
    lua: `${TAKE_SHARDS}${SHARDS_OF_HOLD}
local lines = #KEYS / 2
local short = {}
local held = {}
local specs = {1}
for i = 1, lines do
  local hold = redis.call('HGET', KEYS[2 * i], ARGV[1])
  if hold then
    table.insert(held, i)
    table.insert(specs, shards_of_hold(hold))
  end
end
if #held == lines then return specs end
if #held > 0 then return {-2, held[1]} end
for i = 1, lines do
  local available = redis.call('HGET', KEYS[2 * i - 1], 'available')
  if not available then return {-1, i} end
  if redis.call('HEXISTS', KEYS[2 * i - 1], 'deal') == 1 then return {-3, i} end
  if tonumber(available) < tonumber(ARGV[i + 1]) then
    table.insert(short, i)
    table.insert(short, tonumber(available))
  end
end
if #short > 0 then
  table.insert(short, 1, 0)
  return short
end
${NOW_MS}
local taken = {1}
for i = 1, lines do
  local qty = tonumber(ARGV[i + 1])
  local shards = tonumber(redis.call('HGET', KEYS[2 * i - 1], 'shards')) or 1
  local spec = ''
  if shards > 1 then spec = take_shards(KEYS[2 * i - 1], shards, qty) end
  redis.call('HSET', KEYS[2 * i], ARGV[1], qty .. ':' .. now .. (shards > 1 and (':' .. spec) or ''))
  redis.call('HINCRBY', KEYS[2 * i - 1], 'available', -qty)
  table.insert(taken, spec)
end
return taken`,
  },
  /**
   * A new product's live stock, whatever was there before (holds under its id dropped too). ARGV[5]:
   * the per-buyer cap (0: none); ARGV[6..]: a sharded product's units per shard.
   */
  stockPut: {
    numberOfKeys: 2,
    lua: `${PUT_SHARDS}
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'available', ARGV[1], 'price', ARGV[2], 'strategy', ARGV[3], 'components', ARGV[4])
if tonumber(ARGV[5]) > 0 then redis.call('HSET', KEYS[1], 'cap', ARGV[5]) end
put_shards(KEYS[1], 6)
return 1`,
  },
  /**
   * Lower `available` to what DynamoDB can still sell: the durable stock minus every unit in flight
   * (KEYS[2..]: holds "<qty>:<ms>" and reservations "<qty>:<user>:<ms>", both led by the quantity).
   * Never raises it. Returns the units now available, -1 when the product is missing. On a sharded
   * product ARGV[2] names the shard whose durable stock ARGV[1] is: that shard's counter is lowered to
   * it minus the units held from it (and `available` by as much); without ARGV[2] nothing changes.
   */
  stockLowerTo: {
    lua: `${SHARDS_OF_HOLD}
local available = redis.call('HGET', KEYS[1], 'available')
if not available then return -1 end
if redis.call('HEXISTS', KEYS[1], 'shards') == 1 then
  if not ARGV[2] then return tonumber(available) end
  local field = 's' .. ARGV[2]
  local held = 0
  for _, v in ipairs(redis.call('HVALS', KEYS[2])) do
    for shard, n in string.gmatch(shards_of_hold(v), '(%d+)%.(%d+)') do
      if shard == ARGV[2] then held = held + tonumber(n) end
    end
  end
  local ceiling = math.max(0, tonumber(ARGV[1]) - held)
  local current = tonumber(redis.call('HGET', KEYS[1], field)) or 0
  if current > ceiling then
    redis.call('HSET', KEYS[1], field, ceiling)
    return redis.call('HINCRBY', KEYS[1], 'available', ceiling - current)
  end
  return tonumber(available)
end
local in_flight = 0
for i = 2, #KEYS do
  for _, v in ipairs(redis.call('HVALS', KEYS[i])) do
    in_flight = in_flight + tonumber(string.match(v, '^(%d+)'))
  end
end
local ceiling = math.max(0, tonumber(ARGV[1]) - in_flight)
if tonumber(available) > ceiling then
  redis.call('HSET', KEYS[1], 'available', ceiling)
  return ceiling
end
return tonumber(available)`,
  },
  /** The durable price, only on a product the store has (never a hash without `available`). */
  stockSetPrice: {
    numberOfKeys: 1,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'price', ARGV[1])
return 1`,
  },
  /**
   * The durable per-buyer cap (0: none, the field removed), only on a product the store has (never a
   * hash without `available`).
   */
  stockSetCap: {
    numberOfKeys: 1,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if tonumber(ARGV[1]) > 0 then redis.call('HSET', KEYS[1], 'cap', ARGV[1]) else redis.call('HDEL', KEYS[1], 'cap') end
return 1`,
  },
  /**
   * Put a product's live stock in place unless it is already there (restore from DynamoDB). ARGV[5]:
   * the per-buyer cap (0: none); ARGV[6..]: a sharded product's durable stock per shard.
   * Holds that outlived the count (KEYS[2]) are units a purchase in flight took: they stay off sale
   * (from their shards too), so the count never starts above what DynamoDB can still sell. An
   * addition's mark (a 0-unit hold) is dropped: the durable count has its units if its write landed,
   * and its credit must not add them again; if the write lands later, Redis shows fewer units than
   * DynamoDB until the reconciler's repair (never more). As dealRestore does (shared/orders).
   */
  stockLoad: {
    numberOfKeys: 2,
    lua: `${PUT_SHARDS}${SHARDS_OF_HOLD}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'price', ARGV[2], 'strategy', ARGV[3], 'components', ARGV[4])
if tonumber(ARGV[5]) > 0 then redis.call('HSET', KEYS[1], 'cap', ARGV[5]) end
put_shards(KEYS[1], 6)
local held = 0
local holds = redis.call('HGETALL', KEYS[2])
for i = 1, #holds, 2 do
  local qty = tonumber(string.match(holds[i + 1], '^(%d+)'))
  if qty == 0 then
    redis.call('HDEL', KEYS[2], holds[i])
  else
    held = held + qty
    for shard, n in string.gmatch(shards_of_hold(holds[i + 1]), '(%d+)%.(%d+)') do
      redis.call('HINCRBY', KEYS[1], 's' .. shard, -tonumber(n))
    end
  end
end
local shards = tonumber(redis.call('HGET', KEYS[1], 'shards')) or 1
if shards > 1 then
  -- Σ shards = available, always: a shard below zero (its hold's write already landed) counts as 0.
  local sum = 0
  for s = 0, shards - 1 do
    local units = math.max(0, tonumber(redis.call('HGET', KEYS[1], 's' .. s)))
    redis.call('HSET', KEYS[1], 's' .. s, units)
    sum = sum + units
  end
  redis.call('HSET', KEYS[1], 'available', sum)
else
  redis.call('HSET', KEYS[1], 'available', math.max(0, tonumber(ARGV[1]) - held))
end
return 1`,
  },
  /**
   * Set available to the durable value, but only when nothing is in flight and nobody changed it
   * since the caller read it. KEYS: stock:{42}, then every hash of in-flight units (holds:{42}, and
   * the hot deals' reservations:{42} where the caller has them): all must be empty.
   * ARGV[3..]: a sharded product's durable stock per shard, each shard's counter set to it too.
   * 1 repaired, 0 holds or reservations in flight, -1 changed meanwhile, -2 missing.
   */
  stockRepair: {
    lua: `
for i = 2, #KEYS do
  if redis.call('HLEN', KEYS[i]) > 0 then return 0 end
end
local available = redis.call('HGET', KEYS[1], 'available')
if not available then return -2 end
if available ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[1], 'available', ARGV[2])
for i = 3, #ARGV do redis.call('HSET', KEYS[1], 's' .. (i - 3), ARGV[i]) end
return 1`,
  },
  /**
   * An adjustment that adds units marks the product before its durable write: a hold of 0 units
   * under the adjustment's id, so the reconciler's repair (which waits for every hold) cannot set the
   * live count to the durable one while the credit below is still to come. 1 marked, -1 no live stock.
   */
  stockMark: {
    numberOfKeys: 2,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
${NOW_MS}
redis.call('HSET', KEYS[2], ARGV[1], '0:' .. now)
return 1`,
  },
  /**
   * The added units go on sale once, with the mark: 1 credited; 0 the mark is gone (the reconciler
   * settled it, and its repair sets the live count from the durable one); 2 no live stock (a restore
   * loads the durable count, which has them). ARGV[3]: a sharded product's units per shard,
   * "<shard>.<units>[,...]", the same spread its DynamoDB shards got (not during a hot deal: the
   * deal pooled the shards' units, so its additions go to `available` alone, as in DynamoDB).
   */
  stockCredit: {
    numberOfKeys: 2,
    lua: `${GIVE_SHARDS}
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then return 2 end
if redis.call('HEXISTS', KEYS[1], 'deal') == 0 then give_shards(KEYS[1], ARGV[3] or '') end
redis.call('HINCRBY', KEYS[1], 'available', ARGV[2])
return 1`,
  },
  /** A deleted product leaves the live store: its count and its holds (their purchases cannot land). */
  stockDrop: {
    numberOfKeys: 2,
    lua: `
return redis.call('DEL', KEYS[1], KEYS[2])`,
  },
  /** All holds of a product with Redis's current time, in one consistent read. */
  stockHolds: {
    numberOfKeys: 1,
    lua: `
${NOW_MS}
return {now, redis.call('HGETALL', KEYS[1])}`,
  },
} as const;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    stockReserve(
      stockKey: string,
      holdsKey: string,
      quantity: number,
      holdId: string,
      anyPool?: '1',
    ): Result<[number, number, string?], Context>;
    stockRelease(stockKey: string, holdsKey: string, holdId: string): Result<number, Context>;
    /** numberOfKeys is given per call: 2 × the number of lines. */
    stockReserveMany(
      numberOfKeys: number,
      ...keysThenArgs: (string | number)[]
    ): Result<(number | string)[], Context>;
    stockPut(
      stockKey: string,
      holdsKey: string,
      available: number,
      price: number,
      strategy: string,
      components: string,
      /** 0: none. */
      cap: number,
      ...shardStock: number[]
    ): Result<number, Context>;
    stockSetPrice(stockKey: string, price: number): Result<number, Context>;
    /** 0: none. */
    stockSetCap(stockKey: string, cap: number): Result<number, Context>;
    /** numberOfKeys is given per call: stock:{id}, holds:{id} and any other in-flight hashes. */
    stockLowerTo(numberOfKeys: number, ...keysThenArgs: (string | number)[]): Result<number, Context>;
    stockLoad(
      stockKey: string,
      holdsKey: string,
      available: number,
      price: number,
      strategy: string,
      components: string,
      /** 0: none. */
      cap: number,
      ...shardStock: number[]
    ): Result<number, Context>;
    /** numberOfKeys is given per call: stock:{id}, holds:{id} and any other in-flight hashes. */
    stockRepair(numberOfKeys: number, ...keysThenArgs: (string | number)[]): Result<number, Context>;
    stockHolds(holdsKey: string): Result<[number, string[]], Context>;
    stockMark(stockKey: string, holdsKey: string, holdId: string): Result<number, Context>;
    stockCredit(
      stockKey: string,
      holdsKey: string,
      holdId: string,
      delta: number,
      shards?: string,
    ): Result<number, Context>;
    stockDrop(stockKey: string, holdsKey: string): Result<number, Context>;
  }
}
