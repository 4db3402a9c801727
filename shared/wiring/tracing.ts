/**
 * X-Ray tracing with Powertools Tracer: one tracer per process. The stack turns on active tracing
 * for every function (lib/endpoint-function.ts); here each invocation gets its handler subsegment
 * (shared/http: captureLambdaHandler), the DynamoDB client records every AWS call, and every Redis
 * and DynamoDB adapter call gets a subsegment named after the adapter and the method
 * ("Redis RedisStock.reserve"), so a slow purchase shows which step it waited on.
 *
 * Outside Lambda (no AWS_EXECUTION_ENV: the local runtime, the tests) tracing is off, and so it is
 * with POWERTOOLS_TRACE_ENABLED=false in AWS: then the tracer is not even loaded, because loading it
 * loads the X-Ray SDK, whose context tracking (cls-hooked) installs an async hook with destroy
 * tracking on every promise of the process. That hook was 10% of a sold-out refusal's CPU in a
 * function that never traced anything (docs/performance.md). `tracer` is then undefined, the
 * handler middleware does nothing, and `traced` hands the adapter back unwrapped.
 */
import type { Tracer } from '@aws-lambda-powertools/tracer';

const SERVICE_NAME = 'flash-sale-inventory';

/**
 * Powertools' own rule (Tracer#setTracingEnabled): on in a Lambda execution environment, unless
 * POWERTOOLS_TRACE_ENABLED is false or the process is SAM's or Amplify's local emulation.
 */
export function tracingWanted(env: NodeJS.ProcessEnv): boolean {
  const executionEnv = env.AWS_EXECUTION_ENV ?? '';
  if ((env.POWERTOOLS_TRACE_ENABLED ?? '').trim().toLowerCase() === 'false') return false;
  return executionEnv !== '' && executionEnv !== 'AWS_Lambda_amplify-mock' && !env.AWS_SAM_LOCAL;
}

/** The process's tracer when tracing is on; undefined (and never loaded) when it is off. */
export const tracer: Tracer | undefined = tracingWanted(process.env)
  ? new (await import('@aws-lambda-powertools/tracer')).Tracer({ serviceName: SERVICE_NAME })
  : undefined;

/** The client with every call recorded as an X-Ray subsegment (unchanged when tracing is off). */
export function tracedClient<C extends object>(client: C): C {
  return tracer?.isTracingEnabled() ? tracer.captureAWSv3Client(client) : client;
}

/**
 * The adapter with each method call recorded as a subsegment `<name>.<method>` (name: "Redis
 * RedisStock"). A method that answers synchronously still does; `pure` names those not worth a
 * subsegment. An error that `isFault` says is the dependency's (an outage) is recorded as a fault;
 * any other (a domain answer such as "sold out") only sets the error flag.
 */
export function traced<T extends object>(
  name: string,
  adapter: T,
  isFault: (error: unknown) => boolean,
  pure: readonly (keyof T & string)[] = [],
): T {
  const active = tracer;
  if (!active?.isTracingEnabled()) return adapter;
  return new Proxy(adapter, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver);
      if (typeof value !== 'function' || property === 'constructor' || typeof property !== 'string')
        return value;
      if ((pure as readonly string[]).includes(property)) return value.bind(object);
      return (...args: unknown[]) => {
        // No segment (a call outside an invocation, e.g. at module load): nothing to attach to.
        if (!active.getSegment()) return value.apply(object, args);
        return active.provider.captureAsyncFunc(`${name}.${property}`, (subsegment) => {
          const failed = (error: unknown) => {
            if (isFault(error)) subsegment?.addError(error as Error);
            else subsegment?.addErrorFlag();
            subsegment?.close();
            throw error;
          };
          let result: unknown;
          try {
            result = value.apply(object, args);
          } catch (error) {
            failed(error);
          }
          if (!(result instanceof Promise)) {
            subsegment?.close();
            return result;
          }
          return result.then((resolved) => {
            subsegment?.close();
            return resolved;
          }, failed);
        });
      };
    },
  });
}
