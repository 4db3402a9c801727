/** The sliding windows on Redis (scripts.ts): the adapter behind the limits' `Windows` port. */
import type { Cluster, Redis } from 'ioredis';
import type { AdmitOptions, AdmitResult, Windows } from './ports.ts';

export class RedisWindows implements Windows {
  constructor(
    private readonly redis: Redis | Cluster,
    /** The store's key namespace (shared/redis.ts). */
    private readonly namespace = '',
  ) {}

  async admit(key: string, entry: string, options: AdmitOptions): Promise<AdmitResult> {
    const retryAfterMs = await this.redis.windowAdmit(
      this.namespace + key,
      options.windowMs,
      options.max,
      entry,
      options.record ? 1 : 0,
    );
    return retryAfterMs === 0 ? { admitted: true } : { admitted: false, retryAfterMs };
  }

  async record(key: string, entry: string, windowMs: number): Promise<void> {
    await this.redis.windowRecord(this.namespace + key, windowMs, entry);
  }

  async forget(key: string, entry: string): Promise<void> {
    await this.redis.zrem(this.namespace + key, entry);
  }
}
