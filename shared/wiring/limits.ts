/**
 * The abuse limits' providers (shared/limits): sliding windows in this store's Redis namespace,
 * behind the Redis circuit breaker like every other Redis adapter (a limit check is often a
 * request's first Redis call, so it is where an outage shows first).
 */
import { LoginGuard, PurchaseGuard, RedisWindows, SignupGuard } from '../limits/index.ts';
import { behindBreaker } from './breakers.ts';
import { provider } from './provider.ts';
import { redisClient } from './redis.ts';
import { namespace, settings } from './settings.ts';

export const limitWindows = provider('limit-windows', {}, [redisClient], async () =>
  behindBreaker('redis', 'RedisWindows', new RedisWindows(await redisClient.get(), namespace())),
);

export const loginGuard = provider('login-guard', {}, [limitWindows], async () => {
  const cfg = settings();
  return new LoginGuard(await limitWindows.get(), {
    failuresPerUsername: cfg.LOGIN_FAILURES_PER_USERNAME,
    failuresPerAddress: cfg.LOGIN_FAILURES_PER_ADDRESS,
    windowMs: cfg.LOGIN_FAILURE_WINDOW_SECONDS * 1000,
  });
});

export const signupGuard = provider('signup-guard', {}, [limitWindows], async () => {
  const cfg = settings();
  return new SignupGuard(await limitWindows.get(), {
    perAddress: cfg.SIGNUPS_PER_ADDRESS,
    windowMs: cfg.SIGNUP_WINDOW_SECONDS * 1000,
  });
});

export const purchaseGuard = provider('purchase-guard', {}, [limitWindows], async () => {
  const cfg = settings();
  return new PurchaseGuard(await limitWindows.get(), {
    inFlightPerUser: cfg.PURCHASES_IN_FLIGHT_PER_USER,
    inFlightTtlMs: cfg.PURCHASE_IN_FLIGHT_TTL_MS,
  });
});
