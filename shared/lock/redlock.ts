/**
 * Redlock: one lock over N independent Redis nodes (no replication between them), granted when a
 * majority holds it, behind the same `DistributedLock` as the single-node lock.
 *
 * A grant, each call bounded by a per-node timeout:
 *   1. every node in parallel: set-if-absent with the TTL and, if set, increment its fence counter;
 *      the grant's fence is the largest counter among the nodes that said yes;
 *   2. only when fewer than a majority of them are at that fence already (counters diverge after
 *      grants some nodes missed): the lower ones record it, while the grant still holds them.
 * It counts when at least N/2+1 nodes hold the lock at the fence and time is left:
 * validity = TTL − elapsed − drift,
 * with drift = TTL × driftFactor + 2 ms (node clocks run at slightly different rates, and an expiry
 * is timed by each node's clock). Otherwise the lock is released on every node, and the buyer
 * tries again after a backoff with jitter, inside the wait budget.
 *
 * Fences only grow: a later grant's majority shares a node with every earlier grant's majority at
 * its fence, and it can take that node only after the earlier grant is gone from it (round 2 checks
 * it still holds the lock), so it increments a counter at least that large.
 *
 * Order: Redlock does not keep first-come-first-served. The single-node lock keeps a line on its one
 * Redis; N independent lines can disagree on who is first, and with no consensus among the nodes the
 * only ways out are a waiter giving up its place or everyone waiting for a place to expire. Waiters
 * here retry with jittered backoff, so the next holder is whoever first wins a majority after a
 * release: roughly, but not strictly, the order of arrival.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoff } from '../retry.ts';
import { LOCK_DEFAULTS } from './defaults.ts';
import { LockNotAcquiredError, LockQuorumUnavailableError } from './errors.ts';
import type { AcquireOptions, DistributedLock, Lock, LockNode } from './ports.ts';
import type { LockInspector, LockState } from './redis-lock.ts';

export const REDLOCK_DEFAULTS = {
  /** The clock drift allowed per ms of TTL (node-redlock and the Redlock description use 1%). */
  driftFactor: 0.01,
  /**
   * The longest one node may take to answer before it counts as failed. Far below the TTL, so a
   * dead or partitioned node costs one short wait, not the lock's lifetime.
   */
  nodeTimeoutMs: 50,
} as const;

export interface RedlockOptions {
  readonly driftFactor?: number;
  readonly nodeTimeoutMs?: number;
}

/** What one round on every node gave: the answers of the nodes that answered, and who did not. */
interface Round<T> {
  readonly answers: (T | undefined)[];
  readonly failed: number;
}

class NodeTimeoutError extends Error {
  override readonly name = 'NodeTimeoutError';
}

/** The drift allowance of a TTL: TTL × factor, plus 2 ms for the resolution of the nodes' expiry. */
export function driftOf(ttlMs: number, driftFactor: number): number {
  return Math.floor(ttlMs * driftFactor) + 2;
}

/** How long a grant may still be used: what is left of the TTL once the rounds and the drift are paid. */
export function validityOf(ttlMs: number, elapsedMs: number, driftFactor: number): number {
  return ttlMs - elapsedMs - driftOf(ttlMs, driftFactor);
}

export const quorumOf = (nodes: number) => Math.floor(nodes / 2) + 1;

export class Redlock implements DistributedLock, LockInspector {
  readonly quorum: number;
  private readonly defaults: Required<Omit<AcquireOptions, 'beforeRetry'>>;
  private readonly driftFactor: number;
  private readonly nodeTimeoutMs: number;

  constructor(
    private readonly nodes: readonly LockNode[],
    defaults: Omit<AcquireOptions, 'beforeRetry'> = {},
    options: RedlockOptions = {},
  ) {
    if (nodes.length === 0) throw new RangeError('A Redlock needs at least one node');
    this.quorum = quorumOf(nodes.length);
    this.defaults = { ...LOCK_DEFAULTS, ...defaults };
    this.driftFactor = options.driftFactor ?? REDLOCK_DEFAULTS.driftFactor;
    this.nodeTimeoutMs = options.nodeTimeoutMs ?? REDLOCK_DEFAULTS.nodeTimeoutMs;
  }

  async acquire(resource: string, options: AcquireOptions = {}): Promise<Lock> {
    const { ttlMs, waitBudgetMs, maxAttempts, retryDelayMs, maxRetryDelayMs } = {
      ...this.defaults,
      ...options,
    };
    const token = randomBytes(16).toString('base64url');
    const started = performance.now();
    const deadline = started + waitBudgetMs;
    let unreachableInARow = 0;
    for (let attempt = 1; ; attempt++) {
      const attemptStarted = Date.now();
      const clockStarted = performance.now();
      const taken = await this.onEveryNode((node) => node.tryAcquire(resource, token, ttlMs));
      const holding = taken.answers.flatMap((counter, i) =>
        counter === undefined || counter === null ? [] : [i],
      );
      if (holding.length >= this.quorum) {
        const counters = holding.map((i) => taken.answers[i] as number);
        const fence = Math.max(...counters);
        // Nodes whose counter is already the fence need nothing more. Usually that is every node
        // (their counters move together), so a grant is one round; otherwise the lower ones record it.
        const behind = holding.filter((i) => (taken.answers[i] as number) < fence);
        const atFence = holding.length - behind.length;
        const confirmed =
          atFence >= this.quorum
            ? 0
            : (
                await this.onNodes(behind, (node) => node.confirmFence(resource, token, fence))
              ).answers.filter((ok) => ok === true).length;
        const validityMs = validityOf(ttlMs, performance.now() - clockStarted, this.driftFactor);
        if (atFence + confirmed >= this.quorum && validityMs > 0) {
          return {
            resource,
            token,
            fence,
            // Counted from before the first request was sent: a node may have set its key any time since.
            validUntil: attemptStarted + ttlMs - driftOf(ttlMs, this.driftFactor),
            attempts: attempt,
            waitedMs: Math.round(performance.now() - started),
          };
        }
      }
      // No majority (or no time left): give back what this attempt took, wherever it may hold (the
      // nodes that said yes, and those whose answer did not come: it may have landed), so they are
      // free for whoever can win a majority. A node that said busy holds nothing of ours.
      const mayHold = taken.answers.flatMap((counter, i) => (counter === null ? [] : [i]));
      await this.onNodes(mayHold, (node) => node.release(resource, token));

      const waitedMs = Math.round(performance.now() - started);
      // Nodes that failed (down, timed out, partitioned away) rather than refused: when too few answer
      // to ever make a majority, twice in a row, waiting out the budget would not help.
      unreachableInARow = this.nodes.length - taken.failed < this.quorum ? unreachableInARow + 1 : 0;
      if (unreachableInARow >= 2) {
        throw new LockQuorumUnavailableError(
          resource,
          attempt,
          waitedMs,
          this.nodes.length - taken.failed,
          this.quorum,
        );
      }
      const remaining = deadline - performance.now();
      if (attempt >= maxAttempts || remaining <= 0)
        throw new LockNotAcquiredError(resource, attempt, waitedMs);
      await sleep(Math.min(remaining, backoff(attempt, retryDelayMs, maxRetryDelayMs)));
      await options.beforeRetry?.();
    }
  }

  /** Released where it is still ours; `not-held` when fewer than a majority still held it. */
  async release(lock: Lock): Promise<'released' | 'not-held'> {
    const released = await this.onEveryNode((node) => node.release(lock.resource, lock.token));
    return released.answers.filter((ok) => ok === true).length >= this.quorum ? 'released' : 'not-held';
  }

  /**
   * A new TTL on every node that still holds it, valid only when a majority did and time is left
   * (the same validity rule as a grant). An expired lock is never extended: someone else may hold it.
   */
  async extend(lock: Lock, ttlMs: number): Promise<Lock | 'not-held'> {
    if (Date.now() >= lock.validUntil) return 'not-held';
    const sent = Date.now();
    const clockStarted = performance.now();
    const extended = await this.onEveryNode((node) => node.extend(lock.resource, lock.token, ttlMs));
    const validityMs = validityOf(ttlMs, performance.now() - clockStarted, this.driftFactor);
    if (extended.answers.filter((ok) => ok === true).length < this.quorum || validityMs <= 0)
      return 'not-held';
    return { ...lock, validUntil: sent + ttlMs - driftOf(ttlMs, this.driftFactor) };
  }

  /** On every node that answers: a node that misses it reads a lower counter, never a higher fence. */
  /**
   * The operator's view: held when a majority of nodes hold it (a Redlock grant needs no less), for
   * as long as the majority's shortest TTL; no line to count (a Redlock keeps none).
   */
  async inspect(resource: string): Promise<LockState> {
    const ttls = await Promise.all(this.nodes.map((n) => n.ttlOf(resource).catch(() => -1)));
    const held = ttls.filter((t) => t >= 0).sort((a, b) => b - a);
    const majority = held.length >= this.quorum;
    return { held: majority, ttlMs: majority ? (held[this.quorum - 1] ?? 0) : 0, waiting: 0 };
  }

  /** Delete the lock on every node that answers; true when a majority held it. */
  async forceRelease(resource: string): Promise<boolean> {
    const freed = await Promise.all(this.nodes.map((n) => n.forceRelease(resource).catch(() => false)));
    return freed.filter(Boolean).length >= this.quorum;
  }

  async advanceFence(resource: string, fence: number): Promise<void> {
    await this.onEveryNode((node) => node.advanceFence(resource, fence));
  }

  private onEveryNode<T>(call: (node: LockNode) => Promise<T>): Promise<Round<T>> {
    return this.onNodes(
      this.nodes.map((_, i) => i),
      call,
    );
  }

  /** `call` on the given nodes in parallel; a node that throws or exceeds the timeout has no answer. */
  private async onNodes<T>(
    indexes: readonly number[],
    call: (node: LockNode) => Promise<T>,
  ): Promise<Round<T>> {
    const answers: (T | undefined)[] = this.nodes.map(() => undefined);
    const settled = await Promise.allSettled(
      indexes.map(async (i) => {
        answers[i] = await this.withTimeout(call(this.nodes[i] as LockNode));
      }),
    );
    return { answers, failed: settled.filter((s) => s.status === 'rejected').length };
  }

  /**
   * The node's answer, or NodeTimeoutError after `nodeTimeoutMs`. After a stall of the event loop
   * (a busy machine, a GC pause) timers run before pending socket reads, so a timer alone would call
   * a node that answered in time dead: the timeout waits one more turn (setImmediate runs after the
   * poll phase) so replies already received are read first.
   */
  private withTimeout<T>(pending: Promise<T>): Promise<T> {
    // Plain timers, no AbortController: this runs for every node of every round, and a busy machine
    // is exactly when the lock's own overhead must stay small.
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => setImmediate(() => reject(new NodeTimeoutError(`no answer within ${this.nodeTimeoutMs} ms`))),
        this.nodeTimeoutMs,
      );
      pending.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }
}
