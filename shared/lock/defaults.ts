/**
 * The lock's defaults, defined once: the configuration (shared/config.ts) offers them as the
 * environment's defaults, and the lock falls back to them when a caller passes none.
 */
export const LOCK_DEFAULTS = {
  /** Lock lifetime: longer than one purchase's critical section (reserve + durable write). */
  ttlMs: 5_000,
  /** Total time a buyer waits for a busy lock before 409 LOCK_CONFLICT. */
  waitBudgetMs: 8_000,
  /** An upper bound on attempts inside the budget. */
  maxAttempts: 5_000,
  /** Waiters block until woken (redis-lock.ts); these only set how often one asks when not woken. */
  retryDelayMs: 2,
  maxRetryDelayMs: 50,
} as const;
