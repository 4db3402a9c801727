/**
 * A single-instance Redis lock: `SET key token NX PX ttl`, released and extended by compare-then-act
 * Lua. `DistributedLock` is the interface the purchase use-cases depend on; a Redlock over several
 * Redis nodes (the roadmap's V3) implements the same three calls.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { LockNotAcquiredError } from './errors.ts';

export interface Lock {
  readonly resource: string;
  /** Crypto-random value only this holder knows; release and extend compare it. */
  readonly token: string;
  /** Local clock time after which the holder must assume the lock is gone. */
  readonly validUntil: number;
  /** How many SET NX attempts it took, and how long the holder waited: the operator's numbers. */
  readonly attempts: number;
  readonly waitedMs: number;
}

/** `not-held`: the lock expired (and may belong to someone else now); nothing was changed. */
export type LockOutcome = 'released' | 'extended' | 'not-held';

export interface AcquireOptions {
  readonly ttlMs?: number;
  /** Total time to keep trying before giving up with LockNotAcquiredError. */
  readonly waitBudgetMs?: number;
  readonly maxAttempts?: number;
  /** First backoff; doubles per retry up to maxRetryDelayMs, with jitter. */
  readonly retryDelayMs?: number;
  readonly maxRetryDelayMs?: number;
  /** Runs before each retry; throwing stops the wait (e.g. the stock sold out meanwhile). */
  readonly beforeRetry?: () => Promise<void>;
}

export interface DistributedLock {
  acquire(resource: string, options?: AcquireOptions): Promise<Lock>;
  release(lock: Lock): Promise<Extract<LockOutcome, 'released' | 'not-held'>>;
  extend(lock: Lock, ttlMs: number): Promise<Lock | 'not-held'>;
}

export const LOCK_DEFAULTS = {
  ttlMs: 5_000,
  waitBudgetMs: 5_000,
  maxAttempts: 1_000,
  retryDelayMs: 2,
  maxRetryDelayMs: 25,
} as const;

/** `lock:{42}`: the hash tag puts a product's lock in the same cluster slot as its stock. */
export const lockKey = (resource: string) => `lock:{${resource}}`;

export class RedisLock implements DistributedLock {
  private readonly defaults: Required<Omit<AcquireOptions, 'beforeRetry'>>;

  constructor(
    private readonly redis: Redis,
    defaults: Omit<AcquireOptions, 'beforeRetry'> = {},
  ) {
    this.defaults = { ...LOCK_DEFAULTS, ...defaults };
  }

  async acquire(resource: string, options: AcquireOptions = {}): Promise<Lock> {
    const { ttlMs, waitBudgetMs, maxAttempts, retryDelayMs, maxRetryDelayMs } = {
      ...this.defaults,
      ...options,
    };
    const token = randomBytes(16).toString('base64url');
    const started = performance.now();
    const deadline = started + waitBudgetMs;

    for (let attempt = 1; ; attempt++) {
      const attemptStarted = Date.now();
      if ((await this.redis.set(lockKey(resource), token, 'PX', ttlMs, 'NX')) === 'OK') {
        const waitedMs = Math.round(performance.now() - started);
        // Validity counts from before the SET was sent: the key may have been set at any point since.
        return { resource, token, validUntil: attemptStarted + ttlMs, attempts: attempt, waitedMs };
      }
      const remaining = deadline - performance.now();
      if (attempt >= maxAttempts || remaining <= 0) {
        throw new LockNotAcquiredError(resource, attempt, Math.round(performance.now() - started));
      }
      await sleep(Math.min(remaining, backoff(attempt, retryDelayMs, maxRetryDelayMs)));
      await options.beforeRetry?.();
    }
  }

  async release(lock: Lock): Promise<'released' | 'not-held'> {
    return (await this.redis.lockRelease(lockKey(lock.resource), lock.token)) === 1 ? 'released' : 'not-held';
  }

  async extend(lock: Lock, ttlMs: number): Promise<Lock | 'not-held'> {
    const sent = Date.now();
    const extended = await this.redis.lockExtend(lockKey(lock.resource), lock.token, ttlMs);
    return extended === 1 ? { ...lock, validUntil: sent + ttlMs } : 'not-held';
  }
}

/** Exponential backoff with "equal jitter": half the step fixed, half random, so waiters spread out. */
export function backoff(attempt: number, baseMs: number, maxMs: number): number {
  const step = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
  return step / 2 + Math.random() * (step / 2);
}

export interface WithLockResult<T> {
  readonly value: T;
  readonly lock: Lock;
  /** `not-held` means the critical section outlived the TTL: worth a warning, the caller decides. */
  readonly release: 'released' | 'not-held';
}

/** Acquire, run, and always release, also when `fn` throws. */
export async function withLock<T>(
  locks: DistributedLock,
  resource: string,
  fn: (lock: Lock) => Promise<T>,
  options?: AcquireOptions,
): Promise<WithLockResult<T>> {
  const lock = await locks.acquire(resource, options);
  let value: T;
  try {
    value = await fn(lock);
  } catch (error) {
    await locks.release(lock).catch(() => undefined);
    throw error;
  }
  return { value, lock, release: await locks.release(lock) };
}
