/** GET /api/health: can this function reach Redis and DynamoDB right now? */
import type { Redis } from 'ioredis';
import { DependencyUnavailableError } from './http/errors.ts';

export class HealthCheck {
  constructor(
    private readonly redis: Pick<Redis, 'ping'>,
    private readonly dynamodb: { ping(): Promise<void> },
    private readonly timeoutMs = 2_000,
  ) {}

  async check(): Promise<{ status: 'ok'; redis: 'ok'; dynamodb: 'ok' }> {
    const [redis, dynamodb] = await Promise.all([
      this.probe(() => this.redis.ping()),
      this.probe(() => this.dynamodb.ping()),
    ]);
    if (redis !== 'ok' || dynamodb !== 'ok') throw new DependencyUnavailableError({ redis, dynamodb });
    return { status: 'ok', redis, dynamodb };
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
