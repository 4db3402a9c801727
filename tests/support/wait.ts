/**
 * Waiting for a state instead of for a time: tests poll for the condition they need (a waiter in
 * line, a write at its gate) with a generous deadline, so a loaded machine only makes them slower.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export async function until(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}
