export {
  type Admission,
  type BreakerOptions,
  type BreakerSnapshot,
  type BreakerState,
  CircuitBreaker,
  CircuitOpenError,
  guarded,
} from './circuit-breaker.ts';
