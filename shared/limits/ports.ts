/**
 * The one primitive every limit is built from: a sliding window of entries per key, each entry
 * expiring `windowMs` after it was added (by Redis's clock). RedisWindows implements it with one
 * Lua script over a sorted set; the guards (login-guard.ts, purchase-guard.ts) depend on this port.
 */
export interface Windows {
  /**
   * Atomically: drop entries older than the window; if `max` or more remain, refuse and say in how
   * many ms the oldest leaves; otherwise add `entry` (when `record`) and admit. `max` 0 admits all.
   */
  admit(key: string, entry: string, options: AdmitOptions): Promise<AdmitResult>;
  /** Adds `entry` without a check (a failure to count after the fact). */
  record(key: string, entry: string, windowMs: number): Promise<void>;
  /** Removes `entry`: it no longer counts (a login that succeeded, a purchase that finished). */
  forget(key: string, entry: string): Promise<void>;
}

export interface AdmitOptions {
  readonly windowMs: number;
  readonly max: number;
  /** Add the entry when admitted (false: only check). */
  readonly record: boolean;
}

export type AdmitResult =
  | { readonly admitted: true }
  | { readonly admitted: false; readonly retryAfterMs: number };
