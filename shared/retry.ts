/**
 * Retry timing shared by every capability that waits and tries again (the lock's line, DynamoDB's
 * transaction conflicts): exponential backoff with "equal jitter", half the step fixed and half
 * random, so waiters that collided once spread out instead of colliding again.
 */

/** A delay in [step/2, step] for a step of `stepMs`. */
export function equalJitter(stepMs: number): number {
  return stepMs / 2 + Math.random() * (stepMs / 2);
}

/** The delay before retry `attempt` (1-based): the step doubles from `baseMs` up to `maxMs`. */
export function backoff(attempt: number, baseMs: number, maxMs: number): number {
  return equalJitter(Math.min(maxMs, baseMs * 2 ** (attempt - 1)));
}
