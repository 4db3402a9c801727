/**
 * The lock's Lua, registered once on the ioredis client (the `scripts` option) so every call runs by
 * EVALSHA with ioredis's NOSCRIPT fallback. Both scripts are compare-then-act on the holder's token:
 * a holder whose lock expired and was taken by someone else can neither release nor extend it.
 */
import type { Result } from 'ioredis';

export const lockScripts = {
  lockRelease: {
    numberOfKeys: 1,
    lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`,
  },
  lockExtend: {
    numberOfKeys: 1,
    lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`,
  },
} as const;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** 1 = released, 0 = the key holds another token (or none). */
    lockRelease(key: string, token: string): Result<number, Context>;
    /** 1 = extended, 0 = the key holds another token (or none). */
    lockExtend(key: string, token: string, ttlMs: number): Result<number, Context>;
  }
}
