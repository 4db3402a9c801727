/**
 * One circuit breaker per backing service, per process (a Lambda container), shared by every
 * adapter over it: when Redis stops answering, the stock, the locks and the hot deals all fail fast
 * together. Settings from BREAKER_FAILURE_THRESHOLD and BREAKER_OPEN_MS (docs/operations.md).
 */
import { type BreakerState, CircuitBreaker, guarded } from '../breaker/index.ts';
import { isDependencyOutage } from '../http/outage.ts';
import { logger } from '../logger.ts';
import { breakerOpened } from './metrics.ts';
import { settings } from './settings.ts';
import { traced } from './tracing.ts';

export type Dependency = 'redis' | 'dynamodb';

const breakers = new Map<Dependency, CircuitBreaker>();

export function breakerOf(dependency: Dependency): CircuitBreaker {
  let breaker = breakers.get(dependency);
  if (!breaker) {
    const cfg = settings();
    breaker = new CircuitBreaker({
      name: dependency,
      failureThreshold: cfg.BREAKER_FAILURE_THRESHOLD,
      openMs: cfg.BREAKER_OPEN_MS,
      onStateChange: ({ name, from, to }) => {
        const fields = { breaker: name, from, to };
        if (to === 'open') {
          logger.warn('circuit breaker opened', fields);
          breakerOpened(name);
        } else logger.info('circuit breaker state', fields);
      },
    });
    breakers.set(dependency, breaker);
  }
  return breaker;
}

/** The state of each breaker this process has built (`closed` for one never used). */
export function breakerStates(): Record<Dependency, BreakerState> {
  return {
    redis: breakers.get('redis')?.state ?? 'closed',
    dynamodb: breakers.get('dynamodb')?.state ?? 'closed',
  };
}

const isOutage = (error: unknown) => error instanceof Error && isDependencyOutage(error);

/**
 * An adapter whose every call goes through the dependency's breaker, and in Lambda is recorded as an
 * X-Ray subsegment (shared/wiring/tracing.ts).
 */
export function behindBreaker<T extends object>(
  dependency: Dependency,
  /** The adapter's name in traces (the bundles are minified: class names are not kept). */
  name: string,
  adapter: T,
  pure: readonly (keyof T & string)[] = [],
): T {
  const service = dependency === 'redis' ? 'Redis' : 'DynamoDB';
  return guarded(
    traced(`${service} ${name}`, adapter, isOutage, pure),
    breakerOf(dependency),
    isOutage,
    pure,
  );
}
