/**
 * A single-instance Redis lock: set-if-absent with a TTL and a random token, released and extended by
 * compare-then-act Lua, granted first-come-first-served (see scripts.ts). `DistributedLock` is the
 * interface the purchase use-cases depend on; a lock over several independent Redis nodes (Redlock)
 * implements the same three calls.
 */
import { randomBytes } from 'node:crypto';
import type { ChainableCommander, Cluster, Redis } from 'ioredis';
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
/** The prefix of each waiter's wake-up list: `lockwake:{42}:<token>` (the script adds the token). */
export const lockWakePrefix = (resource: string, ns = '') => `${ns}lockwake:{${resource}}:`;
export const lockWakeKey = (resource: string, token: string, ns = '') =>
  `${lockWakePrefix(resource, ns)}${token}`;

/**
 * How long a waiter keeps its place in line between two asks. Long enough to survive an event-loop
 * stall, short enough that a crashed waiter holds up the line only briefly.
 */
const PLACE_TTL_MS = 1_000;

/**
 * How often a waiter asks again when no wake-up comes, as a share of its place's lifetime: a quarter
 * leaves three quarters of slack for an event-loop stall before the place runs out.
 */
const ASKS_PER_PLACE_TTL = 4;

/** How long a release's wake-up waits in the head's list: the head blocks on it within this. */
const WAKE_TTL_MS = 5_000;

export class RedisLock implements DistributedLock, LockInspector {
  private readonly defaults: Required<Omit<AcquireOptions, 'beforeRetry'>>;
  private readonly wakeUps: WakeUpConnections;

  constructor(
    private readonly redis: Redis | Cluster,
    defaults: Omit<AcquireOptions, 'beforeRetry'> = {},
    /** The store's key namespace; empty for none. */
    private readonly ns = '',
  ) {
    this.defaults = { ...LOCK_DEFAULTS, ...defaults };
    this.wakeUps = new WakeUpConnections(redis);
  }

  /** Closes the waiters' blocking connections (also done when the shared client ends). */
  close(): void {
    this.wakeUps.close();
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
      lockWakePrefix(resource, this.ns),
    ] as const;
    // retryDelayMs no longer paces anything: a waiter asks when woken, or once per waitMs.
    const placeTtlMs = Math.max(PLACE_TTL_MS, maxRetryDelayMs * 10);
    const waitMs = Math.max(retryDelayMs, placeTtlMs / ASKS_PER_PLACE_TTL);
    const wakeKey = lockWakeKey(resource, token, this.ns);
    const started = performance.now();
    const deadline = started + waitBudgetMs;
    const ask = () => this.redis.lockAcquireFair(...keys, token, ttlMs, placeTtlMs);
    let acquired = false;
    try {
      let sent = Date.now();
      let position = await ask();
      for (let attempt = 1; ; ) {
        if (position <= 0) {
          acquired = true;
          // Validity counts from before the request was sent: the key may have been set any time
          // since (for a woken waiter, any time during its wait: an early bound, so a safe one).
          return {
            resource,
            token,
            fence: -position,
            validUntil: sent + ttlMs,
            attempts: attempt,
            waitedMs: Math.round(performance.now() - started),
          };
        }
        const remaining = deadline - performance.now();
        if (attempt >= maxAttempts || remaining <= 0) {
          throw new LockNotAcquiredError(resource, attempt, Math.round(performance.now() - started));
        }
        // Block until woken or waitMs, and ask again right behind the wait on the same connection:
        // Redis runs the ask the moment the wait ends, without a round trip back here, so the
        // hand-over costs the next holder no more than the release's own round trip. Woken, the
        // ask takes the lock (checking the stock first would only delay the hand-over; the reserve
        // under the lock checks it anyway). Not woken, the ask keeps the place, and the caller
        // checks (beforeRetry) before the next wait.
        const connection = await this.wakeUps.borrow();
        if (connection.opened && Date.now() - sent > waitMs) {
          // A new connection can take long to open on a busy machine (hundreds of waiters opening
          // theirs at once): ask again first, so the place this waiter keeps does not run out
          // before its wait even ends.
          attempt++;
          sent = Date.now();
          position = await ask();
          if (position <= 0 || attempt >= maxAttempts) {
            this.wakeUps.giveBack(connection.client);
            continue;
          }
        }
        sent = Date.now();
        const waited = await this.wakeUps.waitThen(
          connection.client,
          wakeKey,
          Math.min(deadline - performance.now(), waitMs),
          (next) => next.lockAcquireFair(...keys, token, ttlMs, placeTtlMs),
        );
        attempt++;
        if (waited === undefined) {
          // The wait failed (connection dropped) or was too short to start: ask on the shared
          // client. A grant whose reply was lost answers "already ours" there.
          sent = Date.now();
          position = await ask();
        } else {
          position = waited.reply as number;
        }
        if (position > 0 && !waited?.woken) await options.beforeRetry?.();
      }
    } finally {
      // Giving up (budget spent, beforeRetry threw, Redis failed) must not leave a place in line that
      // would hold up everyone behind it, nor a wake-up meant for it: the next head gets one instead.
      if (!acquired)
        await this.redis
          .lockLeave(keys[1], keys[2], keys[0], keys[5], token, WAKE_TTL_MS)
          .catch(() => undefined);
    }
  }

  async release(lock: Lock): Promise<'released' | 'not-held'> {
    const released = await this.redis.lockReleaseFair(
      lockKey(lock.resource, this.ns),
      lockQueueKey(lock.resource, this.ns),
      lockPlacesKey(lock.resource, this.ns),
      lockWakePrefix(lock.resource, this.ns),
      lock.token,
      WAKE_TTL_MS,
    );
    return released === 1 ? 'released' : 'not-held';
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
 * The waiters' blocking connections. A BLPOP holds its connection until it answers, so it cannot
 * share the client every other command is pipelined on: each waiting acquire borrows one of these
 * (duplicates of the shared client, opened on first need, kept for the next wait up to MAX_IDLE).
 * They close when the shared client ends, or by `close()`.
 */
export class WakeUpConnections {
  private static readonly MAX_IDLE = 32;
  private readonly idle: (Redis | Cluster)[] = [];
  private readonly open = new Set<Redis | Cluster>();
  private closed = false;

  constructor(private readonly redis: Redis | Cluster) {
    redis.once('end', () => this.close());
  }

  /**
   * A connection to block on: an idle one, or a new one once it is ready (`opened`: the caller may
   * have waited for it). A new one that cannot connect is handed out anyway; its wait then fails.
   */
  async borrow(): Promise<{ client: Redis | Cluster; opened: boolean }> {
    const idle = this.idle.pop();
    if (idle) return { client: idle, opened: false };
    const client = this.connect();
    await client.connect().catch(() => undefined);
    return { client, opened: true };
  }

  /**
   * BLPOP `key` on `connection` for up to `timeoutMs`, with `then`'s command pipelined right behind
   * it: Redis runs it as soon as the wait ends. `woken` when a wake-up came; undefined when the
   * connection failed (whether `then` ran is unknown) or the wait is too short to block. The
   * connection goes back to the pool, or is closed when it failed.
   */
  async waitThen(
    connection: Redis | Cluster,
    key: string,
    timeoutMs: number,
    then: (pipeline: ChainableCommander) => ChainableCommander,
  ): Promise<{ woken: boolean; reply: unknown } | undefined> {
    // BLPOP's 0 means for ever; below a millisecond there is nothing worth waiting for.
    if (this.closed || timeoutMs < 1) {
      this.giveBack(connection);
      return undefined;
    }
    try {
      const replies = await then(connection.pipeline().blpop(key, timeoutMs / 1000)).exec();
      const [popped, next] = replies ?? [];
      if (!popped || !next || popped[0] || next[0]) throw popped?.[0] ?? next?.[0] ?? new Error('no reply');
      this.giveBack(connection);
      return { woken: popped[1] !== null, reply: next[1] };
    } catch {
      // A dropped or timed-out connection may still have a BLPOP outstanding: never reuse it.
      this.discard(connection);
      return undefined;
    }
  }

  close(): void {
    this.closed = true;
    for (const connection of this.open) connection.disconnect();
    this.open.clear();
    this.idle.length = 0;
  }

  private connect(): Redis | Cluster {
    const blocking = {
      // The BLPOP timeout bounds the wait; a command timeout shorter than it would cut it off.
      commandTimeout: undefined,
      // A connection that died mid-wait (a partition) fails the wait after its timeout plus 1 s.
      blockingTimeout: 60_000,
      blockingTimeoutGrace: 1_000,
      // A failed wait is not retried on a new connection: the waiter asks the lock again instead.
      maxRetriesPerRequest: 0,
      enableAutoPipelining: false,
      lazyConnect: true,
    };
    const connection = this.redis.isCluster
      ? (this.redis as Cluster).duplicate([], {
          enableAutoPipelining: false,
          lazyConnect: true,
          redisOptions: { ...(this.redis as Cluster).options.redisOptions, ...blocking },
        })
      : (this.redis as Redis).duplicate(blocking);
    // Its failures are answered by the waiter (it asks again); nothing to print.
    connection.on('error', () => undefined);
    this.open.add(connection);
    return connection;
  }

  giveBack(connection: Redis | Cluster): void {
    if (!this.closed && this.idle.length < WakeUpConnections.MAX_IDLE) this.idle.push(connection);
    else this.discard(connection);
  }

  private discard(connection: Redis | Cluster): void {
    this.open.delete(connection);
    connection.disconnect();
  }
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
