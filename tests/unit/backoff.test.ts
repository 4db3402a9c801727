import { afterEach, describe, expect, it, vi } from 'vitest';
import { LOCK_DEFAULTS } from '../../shared/lock/defaults.ts';
import { backoff } from '../../shared/retry.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

/** backoff() with Math.random pinned, to see the two ends of the jitter. */
function withRandom(value: number, attempt: number, base: number, max: number): number {
  vi.spyOn(Math, 'random').mockReturnValue(value);
  const delay = backoff(attempt, base, max);
  vi.restoreAllMocks();
  return delay;
}

describe('backoff', () => {
  it('doubles the step on every attempt until the cap', () => {
    const upper = [1, 2, 3, 4, 5, 6, 7].map((attempt) => withRandom(1, attempt, 2, 25));
    expect(upper).toEqual([2, 4, 8, 16, 25, 25, 25]);
  });

  it('waits at least half the step (equal jitter)', () => {
    const lower = [1, 2, 3, 4, 5, 6].map((attempt) => withRandom(0, attempt, 2, 25));
    expect(lower).toEqual([1, 2, 4, 8, 12.5, 12.5]);
  });

  it('stays within [step/2, step] for every random draw', () => {
    for (let attempt = 1; attempt <= 12; attempt++) {
      const step = Math.min(LOCK_DEFAULTS.maxRetryDelayMs, LOCK_DEFAULTS.retryDelayMs * 2 ** (attempt - 1));
      for (let i = 0; i < 200; i++) {
        const delay = backoff(attempt, LOCK_DEFAULTS.retryDelayMs, LOCK_DEFAULTS.maxRetryDelayMs);
        expect(delay).toBeGreaterThanOrEqual(step / 2);
        expect(delay).toBeLessThanOrEqual(step);
      }
    }
  });

  it('never exceeds the maximum, even after a thousand attempts', () => {
    for (const attempt of [10, 50, 100, 1000, 5000]) {
      const delay = backoff(attempt, 2, 25);
      expect(Number.isFinite(delay)).toBe(true);
      expect(delay).toBeLessThanOrEqual(25);
      expect(delay).toBeGreaterThanOrEqual(12.5);
    }
  });

  it('spreads waiters out: draws for the same attempt differ', () => {
    const draws = new Set(Array.from({ length: 50 }, () => backoff(5, 2, 25)));
    expect(draws.size).toBeGreaterThan(1);
  });

  it('grows with the attempt number on average', () => {
    const mean = (attempt: number) =>
      Array.from({ length: 500 }, () => backoff(attempt, 2, 1000)).reduce((a, b) => a + b, 0) / 500;
    expect(mean(2)).toBeGreaterThan(mean(1));
    expect(mean(4)).toBeGreaterThan(mean(3) * 1.5);
  });
});
