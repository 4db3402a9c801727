/**
 * A single-instance Redis lock: set-if-absent with a TTL and a random token, released and extended by
 * compare-then-act Lua, granted first-come-first-served (see scripts.ts). `DistributedLock` is the
 * interface the purchase use-cases depend on; a lock over several independent Redis nodes (Redlock)
 * implements the same three calls.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cluster, Redis } from 'ioredis';
import { backoff, equalJitter } from '../retry.ts';
import { LOCK_DEFAULTS } from './defaults.ts';
import { LockNotAcquiredError } from './errors.ts';
import type { AcquireOptions, DistributedLock, Lock, LockNode } from './ports.ts';

export type { AcquireOptions, DistributedLock, Lock, LockOutcome } from './ports.ts';

/** A lock as an operator sees it. */
export interface LockState {
  readonly held: boolean;
  /** Milliseconds until the lock expires by itself; 0 when free. */
  readonly ttlMs: number;
  /** Waiters in line that still keep their place. */
  readonly waiting: number;
}

/** The operator's view of the locks: look at one, or free it by force (a stuck holder). */
export interface LockInspector {
  inspect(resource: string): Promise<LockState>;
  /**
   * Delete the lock whoever holds it. The holder's own release then reports `not-held`; the sale
   * stays exact because the lock orders buyers but DynamoDB's condition decides. True when one was held.
   */
  forceRelease(resource: string): Promise<boolean>;
}

/**
 * `lock:{42}`: the hash tag puts a product's lock in the same cluster slot as its stock. `ns` is the
 * store's key namespace (shared/redis.ts `keyNamespace`).
 */
export const lockKey = (resource: string, ns = '') => `${ns}lock:{${resource}}`;
export const lockQueueKey = (resource: string, ns = '') => `${ns}lockq:{${resource}}`;
export const lockPlacesKey = (resource: string, ns = '') => `${ns}lockqt:{${resource}}`;
export const lockTicketsKey = (resource: string, ns = '') => `${ns}lockqn:{${resource}}`;
/** The fence counter: no TTL, it only grows (every grant takes a larger value). */
export const lockFenceKey = (resource: string, ns = '') => `${ns}lockfence:{${resource}}`;

/**
 * How long a waiter keeps its place in line between two asks. Long enough to survive an event-loop
 * stall, short enough that a crashed waiter holds up the line only briefly.
 */
const PLACE_TTL_MS = 1_000;

export class RedisLock implements DistributedLock, LockInspector {
  private readonly defaults: Required<Omit<AcquireOptions, 'beforeRetry'>>;

  constructor(
    private readonly redis: Redis | Cluster,
    defaults: Omit<AcquireOptions, 'beforeRetry'> = {},
    /** The store's key namespace; empty for none. */
    private readonly ns = '',
  ) {
    this.defaults = { ...LOCK_DEFAULTS, ...defaults };
  }

  async acquire(resource: string, options: AcquireOptions = {}): Promise<Lock> {
    const { ttlMs, waitBudgetMs, maxAttempts, retryDelayMs, maxRetryDelayMs } = {
      ...this.defaults,
      ...options,
    };
    const token = randomBytes(16).toString('base64url');
    const keys = [
      lockKey(resource, this.ns),
      lockQueueKey(resource, this.ns),
      lockPlacesKey(resource, this.ns),
      lockTicketsKey(resource, this.ns),
      lockFenceKey(resource, this.ns),
    ] as const;
    const placeTtlMs = Math.max(PLACE_TTL_MS, maxRetryDelayMs * 10);
    const started = performance.now();
    const deadline = started + waitBudgetMs;
    let acquired = false;
    try {
      for (let attempt = 1; ; attempt++) {
        const attemptStarted = Date.now();
        const position = await this.redis.lockAcquireFair(...keys, token, ttlMs, placeTtlMs);
        if (position <= 0) {
          acquired = true;
          const waitedMs = Math.round(performance.now() - started);
          // Validity counts from before the request was sent: the key may have been set any time since.
          return {
            resource,
            token,
            fence: -position,
            validUntil: attemptStarted + ttlMs,
            attempts: attempt,
            waitedMs,
          };
        }
        const remaining = deadline - performance.now();
        if (attempt >= maxAttempts || remaining <= 0) {
          throw new LockNotAcquiredError(resource, attempt, Math.round(performance.now() - started));
        }
        await sleep(
          Math.min(remaining, pollDelay(position, attempt, retryDelayMs, maxRetryDelayMs, placeTtlMs)),
        );
        await options.beforeRetry?.();
      }
    } finally {
      // Giving up (budget spent, beforeRetry threw, Redis failed) must not leave a place in line that
      // would hold up everyone behind it.
      if (!acquired) await this.redis.lockLeave(keys[1], keys[2], token).catch(() => undefined);
    }
  }

  async release(lock: Lock): Promise<'released' | 'not-held'> {
    return (await this.redis.lockRelease(lockKey(lock.resource, this.ns), lock.token)) === 1
      ? 'released'
      : 'not-held';
  }

  async inspect(resource: string): Promise<LockState> {
    const [ttl, waiting] = await this.redis.lockInspect(
      lockKey(resource, this.ns),
      lockQueueKey(resource, this.ns),
      lockPlacesKey(resource, this.ns),
    );
    return { held: ttl !== -2, ttlMs: Math.max(0, ttl), waiting };
  }

  async forceRelease(resource: string): Promise<boolean> {
    return (await this.redis.del(lockKey(resource, this.ns))) === 1;
  }

  async extend(lock: Lock, ttlMs: number): Promise<Lock | 'not-held'> {
    const sent = Date.now();
    const extended = await this.redis.lockExtend(lockKey(lock.resource, this.ns), lock.token, ttlMs);
    return extended === 1 ? { ...lock, validUntil: sent + ttlMs } : 'not-held';
  }

  async advanceFence(resource: string, fence: number): Promise<void> {
    await this.redis.lockFenceAdvance(lockFenceKey(resource, this.ns), fence);
  }
}

/**
 * One independent Redis node of a Redlock (redlock.ts): plain set-if-absent, no line (a line per
 * node cannot agree on one head without consensus), and the fence counter beside the lock.
 */
export class RedisLockNode implements LockNode {
  constructor(
    private readonly redis: Redis,
    private readonly ns = '',
  ) {}

  async tryAcquire(resource: string, token: string, ttlMs: number): Promise<number | null> {
    const counter = await this.redis.redlockAcquire(
      lockKey(resource, this.ns),
      lockFenceKey(resource, this.ns),
      token,
      ttlMs,
    );
    return counter < 0 ? null : counter;
  }

  async confirmFence(resource: string, token: string, fence: number): Promise<boolean> {
    return (
      (await this.redis.redlockConfirmFence(
        lockKey(resource, this.ns),
        lockFenceKey(resource, this.ns),
        token,
        fence,
      )) === 1
    );
  }

  async release(resource: string, token: string): Promise<boolean> {
    return (await this.redis.lockRelease(lockKey(resource, this.ns), token)) === 1;
  }

  async extend(resource: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.lockExtend(lockKey(resource, this.ns), token, ttlMs)) === 1;
  }

  async advanceFence(resource: string, fence: number): Promise<void> {
    await this.redis.lockFenceAdvance(lockFenceKey(resource, this.ns), fence);
  }

  /** Milliseconds the lock has left on this node; -1 when it is not held here. */
  async ttlOf(resource: string): Promise<number> {
    const ttl = await this.redis.pttl(lockKey(resource, this.ns));
    return ttl === -2 ? -1 : Math.max(0, ttl);
  }

  /** Delete the lock on this node whoever holds it; true when it was held here. */
  async forceRelease(resource: string): Promise<boolean> {
    return (await this.redis.del(lockKey(resource, this.ns))) === 1;
  }
}

/**
 * The head of the line asks again within a few ms while the holder works. The rest ask
 * later the further back they stand (by the time they ask again the line has moved up), but often
 * enough to keep their place: a quarter of the place's lifetime at most.
 */
export function pollDelay(
  position: number,
  attempt: number,
  baseMs: number,
  maxMs: number,
  placeTtlMs = PLACE_TTL_MS,
): number {
  // One head per resource, so asking every few ms costs little and keeps the hand-over gap short.
  if (position <= 1) return backoff(attempt, baseMs, Math.min(maxMs, baseMs * 2));
  return equalJitter(Math.min(Math.max(maxMs, placeTtlMs / 4), baseMs * 2 * position));
}

export interface WithLockResult<T> {
  readonly value: T;
  readonly lock: Lock;
  /** `not-held` means the critical section outlived the TTL: worth a warning, the caller decides. */
  readonly release: 'released' | 'not-held';
}

export interface WithLocksResult<T> {
  readonly value: T;
  /** In the order they were taken (ascending resource). */
  readonly locks: readonly Lock[];
  /** `not-held` when any lock expired inside the critical section. */
  readonly release: 'released' | 'not-held';
}

/** Acquire, run, and always release, also when `fn` throws. */
export async function withLock<T>(
  locks: DistributedLock,
  resource: string,
  fn: (lock: Lock) => Promise<T>,
  options?: AcquireOptions,
): Promise<WithLockResult<T>> {
  const result = await withLocks(locks, [resource], ([lock]) => fn(lock as Lock), options);
  return { value: result.value, lock: result.locks[0] as Lock, release: result.release };
}

/** Orders resources the way every caller must take them, so no two callers can wait on each other. */
export function lockOrder(resources: readonly string[]): string[] {
  return [...new Set(resources)].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

/**
 * Several locks, all or nothing: taken in one global order (ascending, numeric-aware) so two buyers
 * of [A, B] and [B, A] cannot deadlock, inside one shared wait budget; a failure part-way releases
 * what was taken; released in reverse order, also when `fn` throws.
 */
export async function withLocks<T>(
  locks: DistributedLock,
  resources: readonly string[],
  fn: (held: readonly Lock[]) => Promise<T>,
  options: AcquireOptions = {},
): Promise<WithLocksResult<T>> {
  const budget = options.waitBudgetMs ?? LOCK_DEFAULTS.waitBudgetMs;
  const deadline = performance.now() + budget;
  const held: Lock[] = [];
  const releaseAll = async () => {
    let outcome: 'released' | 'not-held' = 'released';
    for (const lock of [...held].reverse()) {
      if ((await locks.release(lock).catch(() => 'not-held' as const)) === 'not-held') outcome = 'not-held';
    }
    return outcome;
  };
  let value: T;
  try {
    for (const resource of lockOrder(resources)) {
      const remaining = Math.max(0, Math.round(deadline - performance.now()));
      held.push(await locks.acquire(resource, { ...options, waitBudgetMs: remaining }));
    }
    value = await fn(held);
  } catch (error) {
    await releaseAll();
    throw error;
  }
  return { value, locks: held, release: await releaseAll() };
}
