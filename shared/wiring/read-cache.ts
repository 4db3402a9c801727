/**
 * A short-lived in-memory cache per container for the reads a crowd hammers (the product list, a
 * product, its stock view). Concurrent misses of one key share one load, so a thousand buyers
 * refreshing the list cost one Redis and one DynamoDB read per container per TTL. A failed load is
 * not kept: a 404 for a product created a moment later, or an outage, must not stick.
 *
 * Nothing on the purchase path reads it: a purchase judges the stock from Redis itself, so a stale
 * "available" here can only show a buyer an old number, never sell a unit that is gone.
 */
export class ReadCache<V> {
  private readonly entries = new Map<string, { readonly value: Promise<V>; readonly expiresAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 1_000,
    private readonly now: () => number = Date.now,
  ) {}

  get(key: string, load: () => Promise<V>): Promise<V> {
    const at = this.now();
    const hit = this.entries.get(key);
    if (hit && hit.expiresAt > at) return hit.value;
    const value = load();
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: at + this.ttlMs });
    value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
    });
    // Oldest first: a Map iterates in insertion order, and a refreshed key was re-inserted.
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    return value;
  }

  get size(): number {
    return this.entries.size;
  }
}
