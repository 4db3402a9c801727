/** Which limit refused a request: each has its own sentence in the answer and its own log value. */
export type LimitName =
  | 'login-username'
  | 'login-address'
  | 'signup-address'
  | 'purchases-in-flight'
  | 'lock-line';

const sentences: Record<LimitName, string> = {
  'login-username': 'Too many failed logins for this username; try again later',
  'login-address': 'Too many failed logins from this address; try again later',
  'signup-address': 'Too many sign-ups from this address; try again later',
  'purchases-in-flight': 'Too many purchases in flight for this user; wait for one to finish',
  'lock-line': 'This user already waits for this product; wait for that purchase to finish',
};

/** A caller past one of its limits: 429 TOO_MANY_REQUESTS with Retry-After (CONTRACT.md, Limits). */
export class TooManyRequestsError extends Error {
  override readonly name = 'TooManyRequestsError';
  constructor(
    readonly limit: LimitName,
    /** Whole seconds until the caller is below the limit again (at least 1). */
    readonly retryAfterSeconds: number,
  ) {
    super(sentences[limit]);
  }
}
