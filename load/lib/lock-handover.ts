/**
 * The lock's hand-over, measured: how long the next waiter in line takes to hold the lock once its
 * holder lets go. N waiters line up on one resource behind a holder, in a fixed arrival order (each
 * joins only once the one before stands in line); then each holds the lock briefly and releases it.
 * The gap is the next holder's acquire time minus the previous holder's release call, both read with
 * performance.now() in this process, so one clock and no skew. Against a private redis-server.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedisServer } from '../../bin/local/processes.ts';
import { lockQueueKey, RedisLock } from '../../shared/lock/index.ts';
import { createRedis } from '../../shared/redis.ts';

export interface LockHandover {
  readonly waiters: number;
  readonly rounds: number;
  /** Milliseconds from one holder's release call to the next holder's acquire. */
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** Every round's waiters held the lock in their arrival order. */
  readonly fifo: boolean;
  /** lockAcquireFair calls per waiter, on average (1 ask to join, 1 when woken: 2 without polling). */
  readonly asksPerWaiter: number;
}

const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;

export async function measureLockHandover(
  options: { waiters?: number; rounds?: number; holdMs?: number } = {},
): Promise<LockHandover> {
  const { waiters = 50, rounds = 4, holdMs = 1 } = options;
  const server = await startRedisServer();
  const redis = createRedis(server.url);
  const locks = new RedisLock(redis, { waitBudgetMs: 60_000, maxRetryDelayMs: 1_000 });
  const gaps: number[] = [];
  let fifo = true;
  let asks = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      const resource = `handover-${round}`;
      const holder = await locks.acquire(resource);
      const order: number[] = [];
      let releasedAt = 0;
      const lined: Promise<void>[] = [];
      for (let i = 0; i < waiters; i++) {
        lined.push(
          locks.acquire(resource).then(async (lock) => {
            const acquiredAt = performance.now();
            gaps.push(acquiredAt - releasedAt);
            order.push(i);
            asks += lock.attempts;
            await sleep(holdMs);
            releasedAt = performance.now();
            await locks.release(lock);
          }),
        );
        while ((await redis.zcard(lockQueueKey(resource))) < i + 1) await sleep(1);
      }
      releasedAt = performance.now();
      await locks.release(holder);
      await Promise.all(lined);
      if (order.some((waiter, place) => waiter !== place)) fifo = false;
    }
  } finally {
    locks.close();
    redis.disconnect();
    await server.stop();
  }
  const sorted = [...gaps].sort((a, b) => a - b);
  const ms = (n: number) => Number(n.toFixed(3));
  return {
    waiters,
    rounds,
    p50: ms(percentile(sorted, 50)),
    p99: ms(percentile(sorted, 99)),
    max: ms(sorted.at(-1) ?? 0),
    fifo,
    asksPerWaiter: Number((asks / (waiters * rounds)).toFixed(2)),
  };
}
