/**
 * What the local API Gateway needs from "Lambda": invoke a function by name with an event and get its
 * result. Two implementations: `inProcessInvoker()` here (every handler on this thread's event loop,
 * what `startTestApi()` uses) and the worker pool in function-pool.ts (each function in its own
 * worker threads, what `npm start` uses). The errors below are the pool's ways to fail an invocation
 * without an answer from the handler; the gateway maps them to the statuses API Gateway gives.
 */
import type { FunctionName } from '../../shared/routes.ts';
import { type LambdaHandler, lambdaContext } from './lambda-context.ts';
import { type RuntimeSettings, runtimeSettings } from './settings.ts';

export { lambdaContext };

export interface Invoker {
  invoke(functionName: FunctionName, event: unknown, requestId: string): Promise<unknown>;
  close(): Promise<void>;
}

/** The invocation ran past the function's timeout and was ended (the worker was terminated). */
export class FunctionTimeoutError extends Error {
  override readonly name = 'FunctionTimeoutError';
  constructor(
    readonly functionName: string,
    readonly requestId: string,
    readonly timeoutMs: number,
  ) {
    super(`${functionName} timed out after ${timeoutMs} ms (request ${requestId})`);
  }
}

/** Every worker of the function is busy and its queue is full: API Gateway's throttle. */
export class FunctionThrottledError extends Error {
  override readonly name = 'FunctionThrottledError';
  constructor(
    readonly functionName: string,
    readonly queued: number,
  ) {
    super(`${functionName} is throttled: ${queued} requests already wait for a worker`);
  }
}

/** The function failed without an answer: it threw, could not load, or its worker died. */
export class FunctionFailedError extends Error {
  override readonly name = 'FunctionFailedError';
  constructor(
    readonly functionName: string,
    readonly phase: 'init' | 'invoke' | 'shutdown',
    options?: { cause?: unknown },
  ) {
    super(`${functionName} failed during ${phase}`, options);
  }
}

/**
 * Every handler on this thread's event loop, each module imported once (as one Lambda container
 * would): no isolation, no timeout enforced. The tests use it to reach the services directly. The
 * context still tells a handler its function's timeout (LOCAL_TIMEOUT_MS[_<FN>], the stack's by
 * default), since handlers plan by it: a lock waiter leaves the line in time to finish.
 */
export function inProcessInvoker(settings: RuntimeSettings = runtimeSettings()): Invoker {
  const timeoutOf = (name: FunctionName) => settings.functions.get(name)?.timeoutMs ?? 10_000;
  const handlers = new Map<FunctionName, Promise<LambdaHandler>>();
  const handlerOf = (name: FunctionName) => {
    let loaded = handlers.get(name);
    if (!loaded) {
      loaded = import(`../../functions/${name}.ts`).then((module) => module.handler as LambdaHandler);
      handlers.set(name, loaded);
    }
    return loaded;
  };
  return {
    invoke: async (name, event, requestId) =>
      (await handlerOf(name))(event, lambdaContext(name, requestId, Date.now() + timeoutOf(name))),
    close: async () => undefined,
  };
}
