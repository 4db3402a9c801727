import { describe, expect, it } from 'vitest';
import { type BreakerState, CircuitBreaker, CircuitOpenError, guarded } from '../../shared/breaker/index.ts';

const outage = new Error('connect ECONNREFUSED 127.0.0.1:6379');
const isOutage = (error: unknown) => error === outage;

function breaker(threshold = 3, openMs = 1_000) {
  let clock = 0;
  const changes: [BreakerState, BreakerState][] = [];
  const b = new CircuitBreaker({
    name: 'redis',
    failureThreshold: threshold,
    openMs,
    now: () => clock,
    onStateChange: ({ from, to }) => changes.push([from, to]),
  });
  return {
    b,
    changes,
    advance: (ms: number) => {
      clock += ms;
    },
    fail: () => b.run(() => Promise.reject(outage), isOutage).catch((e: unknown) => e),
    succeed: () => b.run(() => Promise.resolve('ok'), isOutage),
  };
}

describe('CircuitBreaker', () => {
  describe('closed', () => {
    it('lets every call through and stays closed below the threshold', async () => {
      const { b, fail, succeed } = breaker(3);
      await fail();
      await fail();
      expect(b.state).toBe('closed');
      expect(await succeed()).toBe('ok');
      expect(b.snapshot()).toEqual({ state: 'closed', failures: 0, retryAfterMs: 0 });
    });

    it('counts only outages in a row: a success in between starts again', async () => {
      const { b, fail, succeed } = breaker(3);
      await fail();
      await fail();
      await succeed();
      await fail();
      await fail();
      expect(b.state).toBe('closed');
    });

    it('counts an answer of the service (not an outage) as a success', async () => {
      const { b, fail } = breaker(2);
      await fail();
      const refused = new Error('ConditionalCheckFailed');
      await expect(b.run(() => Promise.reject(refused), isOutage)).rejects.toBe(refused);
      await fail();
      expect(b.state).toBe('closed');
    });

    it('opens at the threshold of outages in a row', async () => {
      const { b, changes, fail } = breaker(3);
      for (let i = 0; i < 3; i++) await fail();
      expect(b.state).toBe('open');
      expect(changes).toEqual([['closed', 'open']]);
    });
  });

  describe('open', () => {
    it('fails fast without calling, saying when to retry', async () => {
      const { b, fail, advance } = breaker(1, 5_000);
      await fail();
      advance(1_200);
      let called = false;
      const error = await b
        .run(async () => {
          called = true;
        }, isOutage)
        .catch((e: unknown) => e);
      expect(called).toBe(false);
      expect(error).toBeInstanceOf(CircuitOpenError);
      expect((error as CircuitOpenError).dependency).toBe('redis');
      expect((error as CircuitOpenError).retryAfterMs).toBe(3_800);
      expect(b.snapshot()).toMatchObject({ state: 'open', retryAfterMs: 3_800 });
    });

    it('ignores late results of calls admitted before it opened', async () => {
      const { b, fail } = breaker(1);
      const late = b.admit();
      await fail();
      late.succeeded();
      expect(b.state).toBe('open');
    });
  });

  describe('half-open', () => {
    it('turns half-open after openMs and admits exactly one probe', async () => {
      const { b, changes, fail, advance } = breaker(1, 1_000);
      await fail();
      advance(999);
      expect(b.state).toBe('open');
      advance(1);
      expect(b.state).toBe('half-open');
      const probe = b.admit();
      expect(() => b.admit()).toThrow(CircuitOpenError);
      probe.succeeded();
      expect(changes).toEqual([
        ['closed', 'open'],
        ['open', 'half-open'],
        ['half-open', 'closed'],
      ]);
    });

    it('closes when the probe succeeds', async () => {
      const { b, fail, succeed, advance } = breaker(2, 1_000);
      await fail();
      await fail();
      advance(1_000);
      expect(await succeed()).toBe('ok');
      expect(b.snapshot()).toEqual({ state: 'closed', failures: 0, retryAfterMs: 0 });
    });

    it('opens again for a full openMs when the probe fails', async () => {
      const { b, fail, advance } = breaker(2, 1_000);
      await fail();
      await fail();
      advance(1_500);
      expect(b.state).toBe('half-open');
      expect(await fail()).toBe(outage);
      expect(b.snapshot()).toMatchObject({ state: 'open', retryAfterMs: 1_000 });
    });

    it('admits a new probe when the first one never reached the service', async () => {
      const { b, fail, advance } = breaker(1, 1_000);
      await fail();
      advance(1_000);
      b.admit().abandoned();
      expect(b.state).toBe('half-open');
      expect(() => b.admit()).not.toThrow();
    });
  });

  it('refuses a threshold below 1', () => {
    expect(() => new CircuitBreaker({ name: 'x', failureThreshold: 0, openMs: 1 })).toThrow(
      /failureThreshold/,
    );
  });
});

describe('guarded', () => {
  class Store {
    calls = 0;
    async read(fail: boolean) {
      this.calls += 1;
      if (fail) throw outage;
      return 'value';
    }
    keyOf(id: number) {
      return `stock:{${id}}`;
    }
  }

  it('runs every async method through the breaker and fails fast once it is open', async () => {
    const { b } = breaker(2);
    const store = new Store();
    const guardedStore = guarded(store, b, isOutage);
    expect(await guardedStore.read(false)).toBe('value');
    await expect(guardedStore.read(true)).rejects.toBe(outage);
    await expect(guardedStore.read(true)).rejects.toBe(outage);
    await expect(guardedStore.read(false)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(store.calls).toBe(3);
  });

  it('keeps pure methods callable while open, and a sync answer counts for nothing', async () => {
    const { b } = breaker(1, 1_000);
    const guardedStore = guarded(new Store(), b, isOutage, ['keyOf']);
    await expect(guardedStore.read(true)).rejects.toBe(outage);
    expect(guardedStore.keyOf(42)).toBe('stock:{42}');
  });
});
