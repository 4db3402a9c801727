export { LOCK_DEFAULTS } from './defaults.ts';
export { LockLostError, LockNotAcquiredError, LockQuorumUnavailableError } from './errors.ts';
export type { AcquireOptions, DistributedLock, Lock, LockNode, LockOutcome } from './ports.ts';
export {
  type LockInspector,
  type LockState,
  lockFenceKey,
  lockKey,
  lockOrder,
  lockPlacesKey,
  lockQueueKey,
  lockTicketsKey,
  lockWakeKey,
  lockWakePrefix,
  RedisLock,
  RedisLockNode,
  WakeUpConnections,
  type WithLockResult,
  type WithLocksResult,
  withLock,
  withLocks,
} from './redis-lock.ts';
export { driftOf, quorumOf, REDLOCK_DEFAULTS, Redlock, type RedlockOptions, validityOf } from './redlock.ts';
export { lockScripts } from './scripts.ts';
