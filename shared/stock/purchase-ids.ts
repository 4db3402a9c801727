/**
 * Purchase ids and request fingerprints: what makes a retried request with the same
 * Idempotency-Key find the first request's outcome instead of buying twice.
 */
import { createHash } from 'node:crypto';
import type { StockLine } from '../model.ts';

/** The purchase id for an Idempotency-Key: the same user and key always give the same id. */
export function purchaseIdFor(userId: number, idempotencyKey: string): string {
  return `idem-${createHash('sha256').update(`${userId}\n${idempotencyKey}`).digest('base64url').slice(0, 27)}`;
}

/** What a retry must repeat exactly to be the same request (item order does not matter). */
export function requestFingerprint(items: readonly StockLine[]): string {
  const canonical = [...items]
    .sort((a, b) => a.productId - b.productId)
    .map((i) => [i.productId, i.quantity]);
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url');
}
