/** The Redis side: one ioredis client per process, with every script registered (shared/redis.ts). */
import { required } from '../config.ts';
import { createRedis } from '../redis.ts';
import { provider } from './provider.ts';
import { secretString } from './secrets.ts';
import { settings } from './settings.ts';

export const redisClient = provider('redis', { redis: true }, [], async () => {
  const cfg = settings();
  // ElastiCache's AUTH token lives in Secrets Manager; the function reads it at cold start.
  const password = cfg.REDIS_AUTH_SECRET_ARN ? await secretString(cfg.REDIS_AUTH_SECRET_ARN) : undefined;
  return createRedis(required(cfg, 'REDIS_URL'), password ? { password } : {});
});
