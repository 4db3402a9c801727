/**
 * GET /api/health: can this function reach Redis and DynamoDB right now, and what do its circuit
 * breakers say? The probes bypass the breakers, so the answer is the services' own.
 */

/** A dependency (Redis, DynamoDB) is down: the health check names which. */
export class DependencyUnavailableError extends Error {
  override readonly name = 'DependencyUnavailableError';
  constructor(readonly report: Record<string, unknown>) {
    super(
      `Unavailable: ${Object.entries(report)
        .filter(([k, v]) => k !== 'breakers' && v !== 'ok')
        .map(([k]) => k)
        .join(', ')}`,
    );
  }
}

export class HealthCheck {
  constructor(
    private readonly redis: { ping(): Promise<unknown> },
    private readonly dynamodb: { ping(): Promise<void> },
    private readonly timeoutMs = 2_000,
    /** Each breaker's state in this process: `closed`, `open` or `half-open`. */
    private readonly breakers: () => Record<string, string> = () => ({}),
  ) {}

  async check(): Promise<{ status: 'ok'; redis: 'ok'; dynamodb: 'ok'; breakers: Record<string, string> }> {
    const [redis, dynamodb] = await Promise.all([
      this.probe(() => this.redis.ping()),
      this.probe(() => this.dynamodb.ping()),
    ]);
    const breakers = this.breakers();
    if (redis !== 'ok' || dynamodb !== 'ok')
      throw new DependencyUnavailableError({ redis, dynamodb, breakers });
    return { status: 'ok', redis, dynamodb, breakers };
  }

  private async probe(call: () => Promise<unknown>): Promise<'ok' | 'unavailable'> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), this.timeoutMs);
    });
    try {
      await Promise.race([call(), timeout]);
      return 'ok';
    } catch {
      return 'unavailable';
    } finally {
      clearTimeout(timer);
    }
  }
}
