import { describe, expect, it } from 'vitest';
import { ReadCache } from '../../shared/wiring/read-cache.ts';

function cache(ttlMs = 1_000, maxEntries = 1_000) {
  let clock = 0;
  let loads = 0;
  const c = new ReadCache<number>(ttlMs, maxEntries, () => clock);
  return {
    c,
    loads: () => loads,
    advance: (ms: number) => {
      clock += ms;
    },
    load: (value: number) => () => {
      loads += 1;
      return Promise.resolve(value);
    },
  };
}

describe('ReadCache', () => {
  it('serves a value for its TTL and loads it again after', async () => {
    const { c, loads, advance, load } = cache(1_000);
    expect(await c.get('list', load(1))).toBe(1);
    advance(999);
    expect(await c.get('list', load(2))).toBe(1);
    advance(1);
    expect(await c.get('list', load(3))).toBe(3);
    expect(loads()).toBe(2);
  });

  it('shares one load among concurrent misses of a key', async () => {
    const { c, loads, load } = cache();
    const values = await Promise.all(Array.from({ length: 100 }, () => c.get('list', load(7))));
    expect(new Set(values)).toEqual(new Set([7]));
    expect(loads()).toBe(1);
  });

  it('keeps no failure: the next read loads again', async () => {
    const { c, load } = cache();
    await expect(c.get('product:9', () => Promise.reject(new Error('not found')))).rejects.toThrow(
      'not found',
    );
    expect(await c.get('product:9', load(9))).toBe(9);
  });

  it('keeps keys apart and at most maxEntries of them, dropping the oldest', async () => {
    const { c, loads, load } = cache(1_000, 2);
    await c.get('a', load(1));
    await c.get('b', load(2));
    await c.get('c', load(3));
    expect(c.size).toBe(2);
    expect(await c.get('b', load(20))).toBe(2);
    expect(await c.get('a', load(10))).toBe(10);
    expect(loads()).toBe(4);
  });
});
