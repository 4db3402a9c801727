import { describe, expect, it } from 'vitest';
import { purchaseIdFor, requestFingerprint } from '../../shared/stock/purchase-ids.ts';

const SAFE_ID = /^[A-Za-z0-9_-]+$/;

describe('purchaseIdFor', () => {
  it('gives the same id for the same user and key', () => {
    expect(purchaseIdFor(7, 'order-1')).toBe(purchaseIdFor(7, 'order-1'));
  });

  it('gives different users with the same key different ids', () => {
    expect(purchaseIdFor(7, 'order-1')).not.toBe(purchaseIdFor(8, 'order-1'));
  });

  it('gives one user different ids for different keys', () => {
    expect(purchaseIdFor(7, 'order-1')).not.toBe(purchaseIdFor(7, 'order-2'));
  });

  it('cannot be confused by a key that moves digits between user id and key', () => {
    expect(purchaseIdFor(1, '2x')).not.toBe(purchaseIdFor(12, 'x'));
  });

  it.each([
    ['a short key', 'k'],
    ['a UUID', '0b6f4c3e-5f0a-4b2d-9a1e-0f5c6d7e8f90'],
    ['a 255-character key', '~'.repeat(255)],
    ['punctuation', '!"#$%&\'()*+,./:;<=>?@[\\]^`{|}'],
  ])('makes a short, URL-safe id from %s', (_why, key) => {
    const id = purchaseIdFor(Number.MAX_SAFE_INTEGER, key);
    expect(id.length).toBeLessThanOrEqual(36);
    expect(id).toMatch(SAFE_ID);
  });

  it('gives 10,000 keys 10,000 distinct ids', () => {
    const ids = new Set(Array.from({ length: 10_000 }, (_, i) => purchaseIdFor(1, `key-${i}`)));
    expect(ids.size).toBe(10_000);
  });
});

describe('requestFingerprint', () => {
  const fp = (...items: [number, number][]) =>
    requestFingerprint(items.map(([productId, quantity]) => ({ productId, quantity })));

  it('is the same for the same products and quantities, in any order', () => {
    expect(fp([3, 2])).toBe(fp([3, 2]));
    expect(fp([3, 2], [5, 1])).toBe(fp([5, 1], [3, 2]));
  });

  it('differs when a product or a quantity differs', () => {
    const base = fp([3, 2]);
    expect(fp([3, 1])).not.toBe(base);
    expect(fp([4, 2])).not.toBe(base);
    expect(fp([2, 3])).not.toBe(base);
    expect(fp([3, 2], [4, 1])).not.toBe(base);
  });

  it('is URL-safe text', () => {
    expect(fp([3, 2])).toMatch(SAFE_ID);
  });
});
