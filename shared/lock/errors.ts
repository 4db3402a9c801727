/** The lock was busy for the whole wait budget. */
export class LockNotAcquiredError extends Error {
  override readonly name = 'LockNotAcquiredError';
  constructor(
    readonly resource: string,
    readonly attempts: number,
    readonly waitedMs: number,
    options?: ErrorOptions,
  ) {
    super(`Lock on ${resource} not acquired after ${attempts} attempts in ${waitedMs} ms`, options);
  }
}
