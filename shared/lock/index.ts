export { LOCK_DEFAULTS } from './defaults.ts';
export { LockNotAcquiredError } from './errors.ts';
export {
  type AcquireOptions,
  type DistributedLock,
  type Lock,
  type LockInspector,
  type LockState,
  lockKey,
  lockOrder,
  lockPlacesKey,
  lockQueueKey,
  lockTicketsKey,
  pollDelay,
  RedisLock,
  type WithLockResult,
  type WithLocksResult,
  withLock,
  withLocks,
} from './redis-lock.ts';
export { lockScripts } from './scripts.ts';
