import { decodeTime, isValid } from 'ulid';
import { describe, expect, it } from 'vitest';
import { newOrderId } from '../../shared/orders/ids.ts';

describe('newOrderId', () => {
  it('mints ULIDs that carry the time they were minted', () => {
    const before = Date.now();
    const id = newOrderId();
    expect(isValid(id)).toBe(true);
    expect(decodeTime(id)).toBeGreaterThanOrEqual(before);
    expect(decodeTime(id)).toBeLessThanOrEqual(Date.now());
  });

  it('gives 20,000 ids in a row (several refills of the random pool) 20,000 distinct values', () => {
    const ids = new Set(Array.from({ length: 20_000 }, () => newOrderId()));
    expect(ids.size).toBe(20_000);
  });

  it('spreads the random part over the whole alphabet (the pool is not stuck on one byte)', () => {
    const randomChars = new Set(
      Array.from({ length: 2_000 }, () => newOrderId().slice(10)).flatMap((part) => [...part]),
    );
    expect(randomChars.size).toBe(32);
  });
});
