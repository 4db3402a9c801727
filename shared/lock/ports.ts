/**
 * The lock capability's ports: what the purchase use-cases hold (`DistributedLock`), and what a
 * Redlock needs of each of its independent nodes (`LockNode`). The single-node lock (redis-lock.ts)
 * and the Redlock over several nodes (redlock.ts) implement the same `DistributedLock`.
 */

export interface Lock {
  readonly resource: string;
  /** Crypto-random value only this holder knows; release and extend compare it. */
  readonly token: string;
  /**
   * The grant's fencing token: larger than every earlier grant's on the same resource. The durable
   * store keeps the highest fence it has seen and refuses a write with a lower one, so a holder that
   * was paused past its TTL cannot write after a newer holder.
   */
  readonly fence: number;
  /** Local clock time after which the holder must assume the lock is gone. */
  readonly validUntil: number;
  /** How many attempts it took, and how long the holder waited: the operator's numbers. */
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
  /** The shortest wait between two asks of a waiter that is not woken. */
  readonly retryDelayMs?: number;
  /**
   * Sets how long a waiter keeps its place without asking (10 × this, at least 1 s); a waiter that is
   * not woken asks again after a quarter of that.
   */
  readonly maxRetryDelayMs?: number;
  /**
   * Runs before the next wait when a wait ended without a wake-up (not after a wake-up: the woken
   * waiter has already taken the lock); throwing stops the wait (e.g. the stock sold out meanwhile).
   */
  readonly beforeRetry?: () => Promise<void>;
}

export interface DistributedLock {
  acquire(resource: string, options?: AcquireOptions): Promise<Lock>;
  release(lock: Lock): Promise<Extract<LockOutcome, 'released' | 'not-held'>>;
  extend(lock: Lock, ttlMs: number): Promise<Lock | 'not-held'>;
  /**
   * Make every later grant's fence exceed `fence`: the durable store has seen it (the lock's own
   * counters were lost, a flush or a new node), so a lower one would be refused for ever.
   */
  advanceFence(resource: string, fence: number): Promise<void>;
}

/**
 * One independent Redis node of a Redlock, each call one round trip. The Redlock decides what a set
 * of answers means (quorum, validity, fence); a node only knows its own keys.
 */
export interface LockNode {
  /** Set the lock if free and increment its fence counter: the counter when set, null when busy. */
  tryAcquire(resource: string, token: string, ttlMs: number): Promise<number | null>;
  /** Raise the fence counter to `fence` while `token` holds the lock here; false when it does not. */
  confirmFence(resource: string, token: string, fence: number): Promise<boolean>;
  /** Delete the lock if `token` holds it. */
  release(resource: string, token: string): Promise<boolean>;
  /** Reset the lock's TTL if `token` holds it. */
  extend(resource: string, token: string, ttlMs: number): Promise<boolean>;
  /** Raise the fence counter to at least `fence`, whoever holds the lock. */
  advanceFence(resource: string, fence: number): Promise<void>;
  /** Milliseconds the lock has left on this node; -1 when it is not held here (the operator's view). */
  ttlOf(resource: string): Promise<number>;
  /** Delete the lock on this node whoever holds it; true when it was held here. */
  forceRelease(resource: string): Promise<boolean>;
}
