/**
 * A circuit breaker per backing service (Redis, DynamoDB), per process: after `failureThreshold`
 * outages in a row it opens, and every call fails at once with CircuitOpenError (the contract's 503
 * SERVICE_UNAVAILABLE with Retry-After) instead of waiting for a connect timeout. After `openMs`
 * one call goes through as a probe (half-open): its success closes the breaker, its failure opens
 * it again for another `openMs`.
 *
 * Our own rather than a library: the whole of it is these three states and a counter, and the
 * libraries that do more (opossum: rolling windows, timeouts, fallbacks, an event emitter per
 * breaker) would add a dependency for behaviour the ioredis and SDK timeouts already give us.
 * Answers from the service (a refused condition, a sold-out product) are successes: only what
 * `isFailure` calls an outage counts.
 */

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** What the breaker guards, in its errors, logs and metrics: `redis`, `dynamodb`. */
  readonly name: string;
  /** Outages in a row that open the breaker. */
  readonly failureThreshold: number;
  /** How long it stays open before a probe may go through. */
  readonly openMs: number;
  readonly now?: () => number;
  /** Told of every change of state (a log line, a metric). */
  readonly onStateChange?: (change: { name: string; from: BreakerState; to: BreakerState }) => void;
}

/** The breaker is open: the dependency was failing, and this call was not even tried. */
export class CircuitOpenError extends Error {
  override readonly name = 'CircuitOpenError';
  constructor(
    readonly dependency: string,
    /** When a call may be tried again, from now. */
    readonly retryAfterMs: number,
  ) {
    super(`${dependency} is unavailable; try again in ${Math.ceil(retryAfterMs / 1000)} s`);
  }
}

export interface BreakerSnapshot {
  readonly state: BreakerState;
  /** Outages in a row while closed. */
  readonly failures: number;
  /** Until a probe may go through (open), in ms; 0 otherwise. */
  readonly retryAfterMs: number;
}

/** One admitted call: report how it ended, exactly once. */
export interface Admission {
  succeeded(): void;
  failed(): void;
  /** The call never reached the service (it returned without I/O): it counts for nothing. */
  abandoned(): void;
}

export class CircuitBreaker {
  readonly name: string;
  private current: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private probing = false;
  /** Bumped on every change of state: a call admitted before a change no longer counts. */
  private generation = 0;
  private readonly now: () => number;

  constructor(private readonly options: BreakerOptions) {
    if (!(options.failureThreshold >= 1)) throw new Error('failureThreshold must be at least 1');
    this.name = options.name;
    this.now = options.now ?? Date.now;
  }

  get state(): BreakerState {
    if (this.current === 'open' && this.now() - this.openedAt >= this.options.openMs) {
      this.move('half-open');
    }
    return this.current;
  }

  snapshot(): BreakerSnapshot {
    const state = this.state;
    return {
      state,
      failures: this.failures,
      retryAfterMs: state === 'open' ? this.openedAt + this.options.openMs - this.now() : 0,
    };
  }

  /**
   * Admit one call, or throw CircuitOpenError: while open, and while half-open once the probe is
   * out (the other callers do not pile onto a service that may still be down).
   */
  admit(): Admission {
    const state = this.state;
    if (state === 'open')
      throw new CircuitOpenError(this.name, this.openedAt + this.options.openMs - this.now());
    if (state === 'half-open') {
      if (this.probing) throw new CircuitOpenError(this.name, this.options.openMs);
      this.probing = true;
    }
    const generation = this.generation;
    const probe = state === 'half-open';
    let settled = false;
    const settle = (outcome: 'success' | 'failure' | 'none') => {
      if (settled) return;
      settled = true;
      if (probe && generation === this.generation) this.probing = false;
      if (generation !== this.generation || outcome === 'none') return;
      if (outcome === 'success') this.onSuccess();
      else this.onFailure();
    };
    return {
      succeeded: () => settle('success'),
      failed: () => settle('failure'),
      abandoned: () => settle('none'),
    };
  }

  /** Run `call` through the breaker; an error `isFailure` calls an outage counts against it. */
  async run<T>(call: () => Promise<T>, isFailure: (error: unknown) => boolean): Promise<T> {
    const admission = this.admit();
    try {
      const value = await call();
      admission.succeeded();
      return value;
    } catch (error) {
      if (isFailure(error)) admission.failed();
      else admission.succeeded();
      throw error;
    }
  }

  private onSuccess(): void {
    this.failures = 0;
    if (this.current === 'half-open') this.move('closed');
  }

  private onFailure(): void {
    if (this.current === 'half-open') {
      this.open();
      return;
    }
    this.failures += 1;
    if (this.failures >= this.options.failureThreshold) this.open();
  }

  private open(): void {
    this.openedAt = this.now();
    this.move('open');
  }

  private move(to: BreakerState): void {
    const from = this.current;
    if (from === to) return;
    this.current = to;
    this.generation += 1;
    this.probing = false;
    if (to === 'closed') this.failures = 0;
    this.options.onStateChange?.({ name: this.name, from, to });
  }
}

/**
 * `target` with every method call going through `breaker`: an adapter (a repository, the Redis
 * stock) guarded as a whole, so no call site can forget it. A method that answers synchronously
 * did no I/O and counts for nothing; `pure` names methods that never do I/O (key names), which
 * stay callable while the breaker is open.
 */
export function guarded<T extends object>(
  target: T,
  breaker: CircuitBreaker,
  isFailure: (error: unknown) => boolean,
  pure: readonly (keyof T & string)[] = [],
): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver);
      if (typeof value !== 'function' || property === 'constructor') return value;
      if ((pure as readonly (string | symbol)[]).includes(property)) return value.bind(object);
      return (...args: unknown[]) => {
        let admission: Admission;
        try {
          admission = breaker.admit();
        } catch (error) {
          // Every guarded method but the pure ones answers a promise: refuse the same way.
          return Promise.reject(error);
        }
        let result: unknown;
        try {
          result = value.apply(object, args);
        } catch (error) {
          if (isFailure(error)) admission.failed();
          else admission.abandoned();
          throw error;
        }
        if (!(result instanceof Promise)) {
          admission.abandoned();
          return result;
        }
        return result.then(
          (resolved) => {
            admission.succeeded();
            return resolved;
          },
          (error: unknown) => {
            if (isFailure(error)) admission.failed();
            else admission.succeeded();
            throw error;
          },
        );
      };
    },
  });
}
