import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  type Lock,
  LockNotAcquiredError,
  lockFenceKey,
  lockKey,
  lockPlacesKey,
  lockQueueKey,
  lockTicketsKey,
  lockWakePrefix,
  RedisLock,
  withLock,
} from '../../shared/lock/index.ts';
import { createRedis } from '../../shared/redis.ts';
import { unique } from '../support/api.ts';
import { until } from '../support/wait.ts';

let redis: Redis;
let locks: RedisLock;
beforeAll(() => {
  redis = createRedis(inject('redisUrl'));
  locks = new RedisLock(redis, { ttlMs: 2_000, waitBudgetMs: 1_000 });
});
afterAll(() => redis.quit());

/** Clients of their own, as separate Lambdas (or processes) would have: one connection each. */
async function withClients<T>(count: number, run: (clients: Redis[]) => Promise<T>): Promise<T> {
  const clients = Array.from({ length: count }, () => createRedis(inject('redisUrl')));
  try {
    return await run(clients);
  } finally {
    await Promise.all(clients.map((c) => c.quit()));
  }
}

/**
 * Waiters that keep their place in line for 10 s between two asks (the place lasts 10 × the longest
 * retry delay), so a loaded machine that pauses a waiter for a while does not reorder the line. The
 * head still asks within a few ms (pollDelay).
 */
const patient = { waitBudgetMs: 60_000, maxRetryDelayMs: 1_000 } as const;

describe('RedisLock', () => {
  it('acquires with SET NX PX and a random token, and releases', async () => {
    const resource = unique('r');
    const lock = await locks.acquire(resource, { ttlMs: 60_000 });
    expect(await redis.get(lockKey(resource))).toBe(lock.token);
    expect(lock.token).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const ttl = await redis.pttl(lockKey(resource));
    expect(ttl).toBeGreaterThan(30_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    expect(await locks.release(lock)).toBe('released');
    expect(await redis.exists(lockKey(resource))).toBe(0);
  });

  it('keeps the hash tag so the lock shares a cluster slot with the product stock', () => {
    expect(lockKey('42')).toBe('lock:{42}');
  });

  it('will not release a lock for a wrong token', async () => {
    const resource = unique('r');
    const lock = await locks.acquire(resource);
    expect(await locks.release({ ...lock, token: 'not-the-token' })).toBe('not-held');
    expect(await redis.get(lockKey(resource))).toBe(lock.token);
    await locks.release(lock);
  });

  it('retries under contention and succeeds once the holder releases', async () => {
    const resource = unique('r');
    const first = await locks.acquire(resource, { ttlMs: 60_000 });
    const second = locks.acquire(resource, patient);
    await until('the second acquirer in line', async () => (await redis.zcard(lockQueueKey(resource))) === 1);
    expect(await locks.release(first)).toBe('released');
    const lock = await second;
    expect(lock.attempts).toBeGreaterThan(1);
    expect(await redis.get(lockKey(resource))).toBe(lock.token);
    await locks.release(lock);
  });

  it('gives up with LockNotAcquiredError once the wait budget is spent, and not before', async () => {
    const resource = unique('r');
    const holder = await locks.acquire(resource, { ttlMs: 60_000 });
    const error = await locks.acquire(resource, { waitBudgetMs: 200 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockNotAcquiredError);
    expect((error as LockNotAcquiredError).attempts).toBeGreaterThan(1);
    expect((error as LockNotAcquiredError).waitedMs).toBeGreaterThanOrEqual(200);
    // The holder keeps its lock and the one who gave up is out of line.
    expect(await redis.get(lockKey(resource))).toBe(holder.token);
    expect(await redis.zcard(lockQueueKey(resource))).toBe(0);
    await locks.release(holder);
  });

  it("frees a dead holder's lock when its TTL expires, and not before", async () => {
    const resource = unique('r');
    const dead = await locks.acquire(resource, { ttlMs: 100 }); // the holder "dies": never releases
    const next = await locks.acquire(resource, patient);
    // Redis set the key no earlier than `dead` sent it, so it expired no earlier than dead.validUntil:
    // whoever got it next got it after that (one clock: the same machine).
    expect(Date.now()).toBeGreaterThanOrEqual(dead.validUntil);
    expect(await redis.get(lockKey(resource))).toBe(next.token);
    expect(await locks.release(dead)).toBe('not-held');
    expect(await locks.release(next)).toBe('released');
  });

  it("does not let a late owner release or extend the new owner's lock", async () => {
    const resource = unique('r');
    const late = await locks.acquire(resource, { ttlMs: 80 });
    await sleep(150); // paused past its TTL
    const current = await locks.acquire(resource);
    expect(await locks.release(late)).toBe('not-held');
    expect(await locks.extend(late, 5_000)).toBe('not-held');
    expect(await redis.get(lockKey(resource))).toBe(current.token);
    await locks.release(current);
  });

  it('extends the lock of its holder', async () => {
    const resource = unique('r');
    const lock = await locks.acquire(resource, { ttlMs: 10_000 });
    const extended = await locks.extend(lock, 120_000);
    expect(extended).toMatchObject({ token: lock.token });
    // Past what the first TTL could still have left: only the extension explains it.
    expect(await redis.pttl(lockKey(resource))).toBeGreaterThan(60_000);
    expect((extended as Lock).validUntil).toBeGreaterThan(lock.validUntil);
    await locks.release(lock);
  });

  it('stops waiting when beforeRetry throws (a buyer learns the stock is gone without queueing)', async () => {
    const resource = unique('r');
    const holder = await locks.acquire(resource);
    const soldOut = new Error('sold out');
    const error = await locks
      .acquire(resource, { beforeRetry: async () => Promise.reject(soldOut), waitBudgetMs: 5_000 })
      .catch((e: unknown) => e);
    expect(error).toBe(soldOut);
    await locks.release(holder);
  });

  it('lets exactly one of 50 racing acquirers on 10 connections in at a time', async () => {
    const resource = unique('r');
    let inside = 0;
    let maxInside = 0;
    let sections = 0;
    const notOwner: string[] = [];
    await withClients(10, async (clients) => {
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          withLock(
            new RedisLock(clients[i % clients.length]!),
            resource,
            async (lock) => {
              inside += 1;
              maxInside = Math.max(maxInside, inside);
              // Redis agrees: the key holds this section's token, not another client's.
              const owner = await redis.get(lockKey(resource));
              if (owner !== lock.token) notOwner.push(`${lock.token} saw ${owner}`);
              await sleep(2);
              sections += 1;
              inside -= 1;
            },
            patient,
          ),
        ),
      );
    });
    expect(sections).toBe(50);
    expect(maxInside).toBe(1);
    expect(notOwner).toEqual([]);
    expect(await redis.exists(lockKey(resource), lockQueueKey(resource))).toBe(0);
  });
});

describe('first-come-first-served', () => {
  it('grants a busy lock to 20 waiters, each on its own connection, one at a time in arrival order', async () => {
    const resource = unique('fifo');
    const holder = await locks.acquire(resource, { ttlMs: 60_000 });
    const order: number[] = [];
    let inside = 0;
    let maxInside = 0;
    const notOwner: string[] = [];
    await withClients(20, async (clients) => {
      const waiters: Promise<unknown>[] = [];
      for (const [i, client] of clients.entries()) {
        waiters.push(
          withLock(
            new RedisLock(client),
            resource,
            async (lock) => {
              inside += 1;
              maxInside = Math.max(maxInside, inside);
              order.push(i);
              const owner = await redis.get(lockKey(resource));
              if (owner !== lock.token) notOwner.push(`waiter ${i} saw ${owner}`);
              await sleep(1);
              inside -= 1;
            },
            patient,
          ),
        );
        // The next waiter comes only once this one stands in line: the arrival order is fixed, not timed.
        await until(`waiter ${i} in line`, async () => (await redis.zcard(lockQueueKey(resource))) === i + 1);
      }
      expect(order).toEqual([]); // nobody got past the holder
      expect(await locks.release(holder)).toBe('released');
      await Promise.all(waiters);
    });
    expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(maxInside).toBe(1);
    expect(notOwner).toEqual([]);
    expect(await redis.exists(lockKey(resource), lockQueueKey(resource))).toBe(0);
  });

  it('takes a waiter out of line when it gives up, so it blocks nobody', async () => {
    const resource = unique('leave');
    const holder = await locks.acquire(resource);
    await expect(locks.acquire(resource, { waitBudgetMs: 50 })).rejects.toBeInstanceOf(LockNotAcquiredError);
    expect(await redis.zcard(lockQueueKey(resource))).toBe(0);
    await locks.release(holder);
    const next = await locks.acquire(resource, { waitBudgetMs: 100 });
    expect(next.attempts).toBe(1);
    await locks.release(next);
  });

  it('drops a waiter that stopped asking once its place expires (a crashed buyer cannot block the line)', async () => {
    const resource = unique('dead');
    const holder = await locks.acquire(resource, { ttlMs: 60_000 });
    // A waiter joins the line with a 200 ms place and then dies without ever asking again.
    await redis.lockAcquireFair(
      lockKey(resource),
      lockQueueKey(resource),
      lockPlacesKey(resource),
      lockTicketsKey(resource),
      lockFenceKey(resource),
      lockWakePrefix(resource),
      'dead-waiter',
      5_000,
      200,
    );
    expect(await redis.zcard(lockQueueKey(resource))).toBe(1);
    const placeUntil = Number(await redis.hget(lockPlacesKey(resource), 'dead-waiter'));
    await locks.release(holder);
    const next = await locks.acquire(resource, patient);
    // Served after the dead waiter's place ran out (Redis's clock on both sides), not in front of it.
    const [seconds, micros] = await redis.time();
    expect(Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)).toBeGreaterThanOrEqual(placeUntil);
    expect(await redis.zscore(lockQueueKey(resource), 'dead-waiter')).toBeNull();
    expect(await redis.get(lockKey(resource))).toBe(next.token);
    await locks.release(next);
  });
});

describe('hand-over without polling', () => {
  /** Every lockAcquireFair the server ran (6 keys: no other lock script has as many), as MONITOR saw it. */
  async function watchAsks(run: () => Promise<Lock>): Promise<{ lock: Lock; asks: number }> {
    const monitor = await redis.monitor();
    const seen: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => seen.push(args));
    try {
      const lock = await run();
      // MONITOR reports in execution order, and later than the replies: once it shows a marker
      // sent after the lock was granted, it has shown every command before it.
      const marker = `marker-${lock.token}`;
      await redis.echo(marker);
      await until('MONITOR caught up', () => seen.some((args) => args.includes(marker)));
      const asks = seen.filter(
        ([command, , keyCount, ...rest]) =>
          /^eval(sha)?$/i.test(command ?? '') && keyCount === '6' && rest.includes(lock.token),
      ).length;
      return { lock, asks };
    } finally {
      monitor.disconnect();
    }
  }

  it('wakes the waiter at the release: one ask to join the line and one when woken, nothing in between', async () => {
    const resource = unique('wake');
    const holder = await locks.acquire(resource, { ttlMs: 60_000 });
    let released = 0;
    const { lock, asks } = await watchAsks(async () => {
      // Its place lasts 10 s, so without a wake-up it would ask again only after 2.5 s.
      const waiter = locks.acquire(resource, patient);
      await until('the waiter in line', async () => (await redis.zcard(lockQueueKey(resource))) === 1);
      await sleep(300); // a poller would have asked dozens of times by now
      released = performance.now();
      await locks.release(holder);
      return waiter;
    });
    const handOverMs = performance.now() - released;
    expect(asks).toBe(2);
    expect(lock.attempts).toBe(2);
    // Woken by the release, not by its 2.5 s timeout (a generous bound for a loaded machine).
    expect(handOverMs).toBeLessThan(1_000);
    expect(await redis.get(lockKey(resource))).toBe(lock.token);
    await locks.release(lock);
  });

  it('still gets a lock freed without a wake-up (forced release), after one wait', async () => {
    const resource = unique('lost');
    const holder = await locks.acquire(resource, { ttlMs: 60_000 });
    // A place of 1 s: asks again every 250 ms when nobody wakes it.
    const waiter = locks.acquire(resource, { waitBudgetMs: 10_000, maxRetryDelayMs: 100 });
    await until('the waiter in line', async () => (await redis.zcard(lockQueueKey(resource))) === 1);
    expect(await locks.forceRelease(resource)).toBe(true); // a plain DEL: no wake-up is pushed
    const lock = await waiter;
    expect(lock.attempts).toBeGreaterThanOrEqual(2);
    expect(await redis.get(lockKey(resource))).toBe(lock.token);
    expect(holder.token).not.toBe(lock.token);
    await locks.release(lock);
  });

  it('keeps its place and gets the lock when its blocking connection is killed mid-wait', async () => {
    const resource = unique('killed');
    const holder = await locks.acquire(resource, { ttlMs: 60_000 });
    const behind = new RedisLock(redis);
    const first = locks.acquire(resource, patient);
    await until('the first waiter in line', async () => (await redis.zcard(lockQueueKey(resource))) === 1);
    const second = behind.acquire(resource, patient);
    await until('the second waiter in line', async () => (await redis.zcard(lockQueueKey(resource))) === 2);
    await until('both waiters blocking', async () => blockedClients(await redis.client('LIST')).length === 2);
    for (const id of blockedClients(await redis.client('LIST'))) await redis.client('KILL', 'ID', id);
    await locks.release(holder);
    const firstLock = await first;
    // The line kept its order: the second waiter is still behind the first, not served around it.
    expect(await redis.get(lockKey(resource))).toBe(firstLock.token);
    expect(await redis.zcard(lockQueueKey(resource))).toBe(1);
    await locks.release(firstLock);
    const secondLock = await second;
    expect(await redis.get(lockKey(resource))).toBe(secondLock.token);
    await behind.release(secondLock);
    behind.close();
  });

  it('serves 50 waiters of one process in arrival order, one at a time, each woken by the one before', async () => {
    const resource = unique('fifo50');
    const holder = await locks.acquire(resource, { ttlMs: 60_000 });
    const order: number[] = [];
    const attempts: number[] = [];
    let inside = 0;
    let maxInside = 0;
    const waiters: Promise<unknown>[] = [];
    for (let i = 0; i < 50; i++) {
      waiters.push(
        withLock(
          locks,
          resource,
          async (lock) => {
            inside += 1;
            maxInside = Math.max(maxInside, inside);
            order.push(i);
            attempts.push(lock.attempts);
            await sleep(1);
            inside -= 1;
          },
          patient,
        ),
      );
      await until(`waiter ${i} in line`, async () => (await redis.zcard(lockQueueKey(resource))) === i + 1);
    }
    await locks.release(holder);
    await Promise.all(waiters);
    expect(order).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(maxInside).toBe(1);
    // Each asked to join and once more when woken (a place of 10 s never needed a keep-alive ask here).
    expect(attempts.filter((n) => n !== 2)).toEqual([]);
    expect(await redis.exists(lockKey(resource), lockQueueKey(resource))).toBe(0);
  });
});

/** The ids of the connections blocked in BLPOP (the waiters' wake-up connections). */
function blockedClients(list: unknown): string[] {
  return String(list)
    .split('\n')
    .filter((line) => / cmd=blpop /.test(line))
    .map((line) => /(?:^|\s)id=(\d+)/.exec(line)?.[1] ?? '')
    .filter(Boolean);
}

describe('withLock', () => {
  it('releases the lock when the critical section throws', async () => {
    const resource = unique('r');
    const boom = new Error('boom');
    await expect(withLock(locks, resource, async () => Promise.reject(boom))).rejects.toBe(boom);
    expect(await redis.exists(lockKey(resource))).toBe(0);
  });

  it('returns the value and reports not-held when the section outlived the TTL', async () => {
    const resource = unique('r');
    const result = await withLock(
      locks,
      resource,
      async () => {
        await sleep(120);
        return 7;
      },
      { ttlMs: 50 },
    );
    expect(result.value).toBe(7);
    expect(result.release).toBe('not-held');
  });
});
