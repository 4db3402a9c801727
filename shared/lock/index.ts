export { LockNotAcquiredError } from './errors.ts';
export {
  type AcquireOptions,
  backoff,
  type DistributedLock,
  LOCK_DEFAULTS,
  type Lock,
  lockKey,
  lockPlacesKey,
  lockQueueKey,
  pollDelay,
  RedisLock,
  type WithLockResult,
  withLock,
} from './redis-lock.ts';
export { lockScripts } from './scripts.ts';
