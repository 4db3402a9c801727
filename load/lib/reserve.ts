/**
 * The library's reserve against Redis's own ceiling for the same script: `RedisStock.reserve` from
 * `concurrency` callers over `connections` auto-pipelined ioredis connections (REDIS_CONNECTIONS;
 * one connection is measured too, and printed beside it), then
 * redis-benchmark (C) running EVALSHA of the same Lua with the same number of connections, on the
 * same private redis-server. Lock acquire + release pairs are measured beside them.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { RedisLock } from '../../shared/lock/index.ts';
import { createRedis } from '../../shared/redis.ts';
import { holdsKey, RedisStock, stockKey, stockScripts } from '../../shared/stock/index.ts';

export async function timeOps(
  total: number,
  concurrency: number,
  op: (i: number) => Promise<unknown>,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await op(next++);
    }),
  );
  return total / ((performance.now() - started) / 1000);
}

export interface LibraryResult {
  readonly concurrency: number;
  readonly reservesPerSecond: number;
  readonly lockPairsPerSecond: number;
  readonly evalshaPerSecond: number;
  /** The library's connections in `reservesPerSecond`. */
  readonly connections: number;
  /** The same reserve rate over one connection, measured in the same rounds. */
  readonly reservesPerSecondOneConnection: number;
  /** reserve rate / EVALSHA rate, in percent. */
  readonly reserveShareOfEvalsha: number;
}

function evalshaRate(port: number, operations: number, connections: number): number {
  const sha = createHash('sha1').update(stockScripts.stockReserve.lua).digest('hex');
  const output = execFileSync(
    'redis-benchmark',
    [
      ...['-p', String(port), '-n', String(operations), '-c', String(connections)],
      ...['-r', '100000000', '-q'],
      ...['EVALSHA', sha, '2', stockKey(1), holdsKey(1), '1', 'rb:__rand_int__'],
    ],
    { encoding: 'utf8' },
  );
  return Number(/([\d.]+) requests per second/.exec(output)?.[1] ?? Number.NaN);
}

/**
 * Reserve and EVALSHA alternate `rounds` times (the machine may be shared: a busy moment then weighs
 * on both), each rate summed over its rounds.
 */
export async function measureReserve(options: {
  redisUrl: string;
  port: number;
  operations: number;
  concurrency: number;
  rounds?: number;
  /** @default 2 */
  connections?: number;
}): Promise<LibraryResult> {
  const { operations, concurrency } = options;
  const rounds = options.rounds ?? 2;
  const connections = options.connections ?? 2;
  const redis = createRedis(options.redisUrl);
  const more = Array.from({ length: connections - 1 }, () => redis.duplicate());
  const stock = new RedisStock([redis, ...more]);
  const single = new RedisStock(redis);
  const locks = new RedisLock(redis, { waitBudgetMs: 5_000 });
  try {
    await stock.load({ id: 1, stock: 1_000_000_000, price: 1, strategy: 'atomic' });
    // One full round first, on both forms: the library is JavaScript, and its first tens of
    // thousands of calls run partly unoptimized (successive rounds sped up 53k → 72k/s here).
    await timeOps(operations, concurrency, (i) => stock.reserve(1, 1, `warm-${i}`));
    await timeOps(operations / 5, concurrency, (i) => single.reserve(1, 1, `warm-single-${i}`));
    let reserveSeconds = 0;
    let singleSeconds = 0;
    let evalshaSeconds = 0;
    for (let r = 0; r < rounds; r++) {
      reserveSeconds +=
        operations / (await timeOps(operations, concurrency, (i) => stock.reserve(1, 1, `h${r}-${i}`)));
      singleSeconds +=
        operations / (await timeOps(operations, concurrency, (i) => single.reserve(1, 1, `s${r}-${i}`)));
      evalshaSeconds += operations / evalshaRate(options.port, operations, concurrency);
    }
    const lockPairsPerSecond = await timeOps(operations, concurrency, async (i) => {
      const lock = await locks.acquire(`bench-${i % 1024}`);
      await locks.release(lock);
    });
    const reservesPerSecond = (rounds * operations) / reserveSeconds;
    const evalshaPerSecond = (rounds * operations) / evalshaSeconds;
    return {
      concurrency,
      reservesPerSecond: Math.round(reservesPerSecond),
      connections,
      reservesPerSecondOneConnection: Math.round((rounds * operations) / singleSeconds),
      lockPairsPerSecond: Math.round(lockPairsPerSecond),
      evalshaPerSecond: Math.round(evalshaPerSecond),
      reserveShareOfEvalsha: Number(((reservesPerSecond / evalshaPerSecond) * 100).toFixed(1)),
    };
  } finally {
    for (const connection of [redis, ...more]) connection.disconnect();
  }
}

/** The named ratio line `npm run bench` prints. */
export const reserveLine = (r: LibraryResult) =>
  `reserve: ${r.reserveShareOfEvalsha}% of EVALSHA (${r.reservesPerSecond}/s vs ${r.evalshaPerSecond}/s, ${r.concurrency} concurrent each; ` +
  `library on ${r.connections} connections, ${r.reservesPerSecondOneConnection}/s on one)`;
