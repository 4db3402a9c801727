/** The lock was busy for the whole wait budget. */
export class LockNotAcquiredError extends Error {
  override readonly name: string = 'LockNotAcquiredError';
  constructor(
    readonly resource: string,
    readonly attempts: number,
    readonly waitedMs: number,
    options?: ErrorOptions,
  ) {
    super(`Lock on ${resource} not acquired after ${attempts} attempts in ${waitedMs} ms`, options);
  }
}

/**
 * A Redlock could not reach a majority of its nodes (they are down, or on the other side of a
 * partition): no lock is possible until they answer again, so waiting out the budget would not help.
 */
export class LockQuorumUnavailableError extends LockNotAcquiredError {
  override readonly name = 'LockQuorumUnavailableError';
  constructor(
    resource: string,
    attempts: number,
    waitedMs: number,
    readonly reachable: number,
    readonly quorum: number,
  ) {
    super(resource, attempts, waitedMs);
    this.message = `Lock on ${resource}: only ${reachable} lock nodes answered, ${quorum} needed`;
  }
}

/**
 * The durable store refused a write because a newer lock holder's fence is already recorded: this
 * holder's lock expired while it worked (a pause, a slow call) and someone else took it.
 */
export class LockLostError extends Error {
  override readonly name = 'LockLostError';
  constructor(
    readonly resource: string,
    readonly fence: number,
    readonly storedFence: number,
  ) {
    super(`Lock on ${resource} was lost: fence ${fence}, but ${storedFence} is already recorded`);
  }
}
