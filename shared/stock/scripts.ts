/**
 * The stock's Lua. Each product has two keys in one hash slot:
 *   stock:{42}  hash  available, price, strategy   (the live gate in front of DynamoDB)
 *   holds:{42}  hash  <purchase id> -> "<quantity>:<redis time ms>"   (units taken, not yet settled)
 * so at every instant: initial stock = available + held units + units in durable purchases.
 * Times come from Redis's own clock (TIME), so every function and the reconciler agree on a hold's age.
 */
import type { Result } from 'ioredis';
import { NOW_MS } from '../lua.ts';

export const stockScripts = {
  /**
   * Check and decrement atomically, recording the hold. Returns {code, available}: 1 reserved,
   * 0 short, -1 no live stock, -3 the product is on a hot deal (sold only through its orders). A hold with this
   * id already there is success: ioredis resends a script whose reply a dropped connection lost, and
   * the purchase claim (one request per purchase id) rules out a second request with the same id.
   */
  stockReserve: {
    numberOfKeys: 2,
    lua: `
local qty = tonumber(ARGV[1])
local available = redis.call('HGET', KEYS[1], 'available')
if not available then return {-1, 0} end
available = tonumber(available)
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return {1, available} end
if redis.call('HEXISTS', KEYS[1], 'deal') == 1 then return {-3, available} end
if available < qty then return {0, available} end
${NOW_MS}
redis.call('HSET', KEYS[2], ARGV[2], qty .. ':' .. now)
return {1, redis.call('HINCRBY', KEYS[1], 'available', -qty)}`,
  },
  /** Return a hold's units (INCRBY, never SET), at most once: the hold is deleted in the same step. */
  stockRelease: {
    numberOfKeys: 2,
    lua: `
local hold = redis.call('HGET', KEYS[2], ARGV[1])
if not hold then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return 2 end
local qty = tonumber(string.match(hold, '^(%d+):'))
redis.call('HINCRBY', KEYS[1], 'available', qty)
return 1`,
  },
  /**
   * Every line of a cart checked first, then all decremented or none, with one hold per product under
   * the same purchase id. KEYS: stock1, holds1, stock2, holds2, ...; ARGV: hold id, q1, q2, ...
   * Returns {1} reserved (also when every line already holds this id: a resent script); {-1, i}
   * line i has no live stock; {-2, i} line i, but not every line, already holds this id; {-3, i}
   * line i is on a hot deal;
   * {0, i, available_i, j, available_j, ...} the lines that fall short. Its keys span products, so it
   * runs where all keys live on one node (a standalone or primary/replica Redis); on Redis Cluster the
   * caller takes per-product holds in order with compensation instead (redis-stock.ts).
   */
  stockReserveMany: {
    lua: `
local lines = #KEYS / 2
local short = {}
local held = {}
for i = 1, lines do
  if redis.call('HEXISTS', KEYS[2 * i], ARGV[1]) == 1 then table.insert(held, i) end
end
if #held == lines then return {1} end
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
for i = 1, lines do
  redis.call('HSET', KEYS[2 * i], ARGV[1], ARGV[i + 1] .. ':' .. now)
  redis.call('HINCRBY', KEYS[2 * i - 1], 'available', -tonumber(ARGV[i + 1]))
end
return {1}`,
  },
  /** A new product's live stock, whatever was there before (holds under its id dropped too). */
  stockPut: {
    numberOfKeys: 2,
    lua: `
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'available', ARGV[1], 'price', ARGV[2], 'strategy', ARGV[3], 'components', ARGV[4])
return 1`,
  },
  /**
   * Lower `available` to what DynamoDB can still sell: the durable stock minus every unit in flight
   * (KEYS[2..]: holds "<qty>:<ms>" and reservations "<qty>:<user>:<ms>", both led by the quantity).
   * Never raises it. Returns the units now available, -1 when the product is missing.
   */
  stockLowerTo: {
    lua: `
local available = redis.call('HGET', KEYS[1], 'available')
if not available then return -1 end
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
  /** Put a product's live stock in place unless it is already there (restore from DynamoDB). */
  stockLoad: {
    numberOfKeys: 1,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'available', ARGV[1], 'price', ARGV[2], 'strategy', ARGV[3], 'components', ARGV[4])
return 1`,
  },
  /**
   * Set available to the durable value, but only when nothing is in flight and nobody changed it
   * since the caller read it. KEYS: stock:{42}, then every hash of in-flight units (holds:{42}, and
   * the hot deals' reservations:{42} where the caller has them): all must be empty.
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
   * loads the durable count, which has them).
   */
  stockCredit: {
    numberOfKeys: 2,
    lua: `
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then return 2 end
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
    ): Result<[number, number], Context>;
    stockRelease(stockKey: string, holdsKey: string, holdId: string): Result<number, Context>;
    /** numberOfKeys is given per call: 2 × the number of lines. */
    stockReserveMany(numberOfKeys: number, ...keysThenArgs: (string | number)[]): Result<number[], Context>;
    stockPut(
      stockKey: string,
      holdsKey: string,
      available: number,
      price: number,
      strategy: string,
      components: string,
    ): Result<number, Context>;
    stockSetPrice(stockKey: string, price: number): Result<number, Context>;
    /** numberOfKeys is given per call: stock:{id}, holds:{id} and any other in-flight hashes. */
    stockLowerTo(numberOfKeys: number, ...keysThenArgs: (string | number)[]): Result<number, Context>;
    stockLoad(
      stockKey: string,
      available: number,
      price: number,
      strategy: string,
      components: string,
    ): Result<number, Context>;
    /** numberOfKeys is given per call: stock:{id}, holds:{id} and any other in-flight hashes. */
    stockRepair(numberOfKeys: number, ...keysThenArgs: (string | number)[]): Result<number, Context>;
    stockHolds(holdsKey: string): Result<[number, string[]], Context>;
    stockMark(stockKey: string, holdsKey: string, holdId: string): Result<number, Context>;
    stockCredit(stockKey: string, holdsKey: string, holdId: string, delta: number): Result<number, Context>;
    stockDrop(stockKey: string, holdsKey: string): Result<number, Context>;
  }
}
