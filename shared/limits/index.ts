export { type LimitName, TooManyRequestsError } from './errors.ts';
export {
  type Leave,
  type LoginAttempt,
  LoginGuard,
  type LoginLimits,
  PurchaseGuard,
  type PurchaseLimits,
  type SignupAttempt,
  SignupGuard,
  type SignupLimits,
} from './guards.ts';
export type { AdmitOptions, AdmitResult, Windows } from './ports.ts';
export { RedisWindows } from './redis-windows.ts';
export { limitScripts } from './scripts.ts';
