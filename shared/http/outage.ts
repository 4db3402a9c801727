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
    error.name === 'DurableOutcomeUnknownError' ||
    error.name === 'TimeoutError' ||
    // Connection failures, and Redis's answers while failing over, loading or resharding.
    /Connection is closed|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|Command timed out|Stream isn't writeable/.test(
      error.message,
    ) ||
    /^(READONLY|LOADING|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|BUSY)\b/.test(error.message) ||
    fault === 'server' ||
    retryable !== undefined ||
    error.name === 'ProvisionedThroughputExceededException' ||
    error.name === 'ThrottlingException'
  );
}
