/**
 * The one error the durable store's ports may throw that is not an answer: a write whose outcome
 * DynamoDB could not tell (a timeout or reset after sending, a 5xx, the same transaction still in
 * progress, through every resend with its token). The adapters throw it (shared/db); the use-cases
 * must then neither release what the write would have sold nor report that nothing was bought.
 * Any other error a write throws changed nothing.
 */
export class DurableOutcomeUnknownError extends Error {
  override readonly name = 'DurableOutcomeUnknownError';
}
