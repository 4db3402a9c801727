/**
 * X-Ray tracing with Powertools Tracer: one tracer per process. The stack turns on active tracing
 * for every function (lib/endpoint-function.ts); here each invocation gets its handler subsegment
 * (shared/http: captureLambdaHandler), the DynamoDB client records every AWS call, and every Redis
 * and DynamoDB adapter call gets a subsegment named after the adapter and the method
 * ("Redis RedisStock.reserve"), so a slow purchase shows which step it waited on.
 *
 * Outside Lambda (no AWS_EXECUTION_ENV: the local runtime, the tests) Powertools switches tracing
 * off, and `traced` hands the adapter back unwrapped: the hot path pays nothing for it.
 * POWERTOOLS_TRACE_ENABLED=false turns it off in AWS too.
 */
import { Tracer } from '@aws-lambda-powertools/tracer';

export const tracer = new Tracer({ serviceName: 'flash-sale-inventory' });

/** The client with every call recorded as an X-Ray subsegment (unchanged when tracing is off). */
export function tracedClient<C extends object>(client: C): C {
  return tracer.isTracingEnabled() ? tracer.captureAWSv3Client(client) : client;
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
  if (!tracer.isTracingEnabled()) return adapter;
  return new Proxy(adapter, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver);
      if (typeof value !== 'function' || property === 'constructor' || typeof property !== 'string')
        return value;
      if ((pure as readonly string[]).includes(property)) return value.bind(object);
      return (...args: unknown[]) => {
        // No segment (a call outside an invocation, e.g. at module load): nothing to attach to.
        if (!tracer.getSegment()) return value.apply(object, args);
        return tracer.provider.captureAsyncFunc(`${name}.${property}`, (subsegment) => {
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
