/**
 * Telling an outage of a backing service (Redis, DynamoDB) from a bug: an outage is a retryable
 * 503 for the client, a bug is a 500.
 */
/** Redis or DynamoDB did not answer: a retryable 503, not a 500. */
export function isDependencyOutage(error: Error): boolean {
  const fault = (error as { $fault?: string }).$fault;
  const retryable = (error as { $retryable?: unknown }).$retryable;
  return (
    error.name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|ECONNREFUSED|ETIMEDOUT|Command timed out/.test(error.message) ||
    fault === 'server' ||
    retryable !== undefined ||
    error.name === 'ProvisionedThroughputExceededException' ||
    error.name === 'ThrottlingException'
  );
}
