import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  LockNotAcquiredError,
  lockKey,
  lockPlacesKey,
  lockQueueKey,
  lockTicketsKey,
  RedisLock,
  withLock,
} from '../../shared/lock/index.ts';
import { createRedis } from '../../shared/redis.ts';
import { unique } from '../support/api.ts';

let redis: Redis;
let locks: RedisLock;
beforeAll(() => {
  redis = createRedis(inject('redisUrl'));
  locks = new RedisLock(redis, { ttlMs: 2_000, waitBudgetMs: 1_000 });
});
afterAll(() => redis.quit());

describe('RedisLock', () => {
  it('acquires with SET NX PX and a random token, and releases', async () => {
    const resource = unique('r');
    const lock = await locks.acquire(resource);
    expect(await redis.get(lockKey(resource))).toBe(lock.token);
    expect(lock.token).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const ttl = await redis.pttl(lockKey(resource));
    expect(ttl).toBeGreaterThan(1_000);
    expect(ttl).toBeLessThanOrEqual(2_000);
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
    const first = await locks.acquire(resource);
    setTimeout(() => void locks.release(first), 150);
    const second = await locks.acquire(resource, { waitBudgetMs: 2_000 });
    expect(second.attempts).toBeGreaterThan(1);
    expect(second.waitedMs).toBeGreaterThanOrEqual(100);
    await locks.release(second);
  });

  it('gives up with LockNotAcquiredError when the wait budget runs out', async () => {
    const resource = unique('r');
    const holder = await locks.acquire(resource);
    const started = performance.now();
    const error = await locks.acquire(resource, { waitBudgetMs: 200 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockNotAcquiredError);
    expect((error as LockNotAcquiredError).attempts).toBeGreaterThan(1);
    expect(performance.now() - started).toBeLessThan(600);
    await locks.release(holder);
  });

  it("frees a dead holder's lock when its TTL expires", async () => {
    const resource = unique('r');
    await locks.acquire(resource, { ttlMs: 100 }); // the holder "dies": never releases
    const next = await locks.acquire(resource, { waitBudgetMs: 1_000 });
    expect(next.attempts).toBeGreaterThanOrEqual(1);
    await locks.release(next);
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
    const lock = await locks.acquire(resource, { ttlMs: 200 });
    const extended = await locks.extend(lock, 5_000);
    expect(extended).not.toBe('not-held');
    expect(await redis.pttl(lockKey(resource))).toBeGreaterThan(4_000);
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

  it('lets exactly one of 50 racing acquirers in at a time', async () => {
    const resource = unique('r');
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      Array.from({ length: 50 }, () =>
        withLock(
          locks,
          resource,
          async () => {
            inside += 1;
            maxInside = Math.max(maxInside, inside);
            await sleep(2);
            inside -= 1;
          },
          { waitBudgetMs: 10_000 },
        ),
      ),
    );
    expect(maxInside).toBe(1);
  });
});

describe('first-come-first-served', () => {
  it('grants a busy lock to waiters in the order they arrived', async () => {
    const resource = unique('fifo');
    const holder = await locks.acquire(resource);
    const order: number[] = [];
    const waiters = Array.from({ length: 20 }, async (_, i) => {
      await sleep(i * 5); // arrive one after another
      await withLock(
        locks,
        resource,
        async () => {
          order.push(i);
          await sleep(1);
        },
        { waitBudgetMs: 10_000 },
      );
    });
    await sleep(150);
    await locks.release(holder);
    await Promise.all(waiters);
    expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i));
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
    const holder = await locks.acquire(resource);
    // A waiter joins the line with a 200 ms place and then dies without ever asking again.
    await redis.lockAcquireFair(
      lockKey(resource),
      lockQueueKey(resource),
      lockPlacesKey(resource),
      lockTicketsKey(resource),
      'dead-waiter',
      5_000,
      200,
    );
    expect(await redis.zcard(lockQueueKey(resource))).toBe(1);
    await locks.release(holder);
    const started = performance.now();
    const next = await locks.acquire(resource, { waitBudgetMs: 3_000 });
    expect(performance.now() - started).toBeLessThan(1_500);
    await locks.release(next);
  });
});

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
