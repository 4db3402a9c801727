/**
 * Inside one worker thread: the local stand-in for Lambda's runtime in one sandbox. bundle.ts
 * bundles it with one function, so by the time `serve` runs, the function's module scope has run
 * (the init phase: clients created); it says it is ready, then runs each invocation it is sent and
 * posts back the result. function-pool.ts sends it one invocation at a time, as Lambda does;
 * `concurrent` reports what this thread actually ran at once, so a test can check that instead of
 * trusting the pool's bookkeeping.
 */
import { parentPort } from 'node:worker_threads';
import { contextOf, type InvocationContext, type LambdaHandler } from './lambda-context.ts';

export type ToWorker = {
  readonly type: 'invoke';
  readonly requestId: string;
  readonly event: unknown;
  readonly context: InvocationContext;
};

export type Done = {
  readonly type: 'done';
  readonly requestId: string;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: { name: string; message: string; stack?: string };
  /** Wall-clock ms (Date.now) in this thread, when the handler was called and when it answered. */
  readonly startedAt: number;
  readonly endedAt: number;
  /** Invocations running in this thread when this one started, itself included. */
  readonly concurrent: number;
};

export type FromWorker = { readonly type: 'ready' } | Done;

let running = 0;

async function run(handler: LambdaHandler, message: ToWorker): Promise<Done> {
  running += 1;
  const concurrent = running;
  const startedAt = Date.now();
  try {
    const result = await handler(message.event, contextOf(message.context));
    return {
      type: 'done',
      requestId: message.requestId,
      ok: true,
      result,
      startedAt,
      endedAt: Date.now(),
      concurrent,
    };
  } catch (error) {
    const {
      name,
      message: text,
      stack,
    } = error instanceof Error ? error : new Error(`non-error thrown: ${String(error)}`);
    return {
      type: 'done',
      requestId: message.requestId,
      ok: false,
      error: { name, message: text, ...(stack && { stack }) },
      startedAt,
      endedAt: Date.now(),
      concurrent,
    };
  } finally {
    running -= 1;
  }
}

export function serve(handler: LambdaHandler): void {
  const port = parentPort;
  if (!port) throw new Error('function-worker.ts runs inside a worker thread only');
  port.on('message', (message: ToWorker) => {
    void run(handler, message).then((reply) => {
      try {
        port.postMessage(reply);
      } catch (error) {
        // A result that cannot be cloned (a function, a socket) is the handler's bug: report it as one.
        port.postMessage({
          ...reply,
          ok: false,
          result: undefined,
          error: { name: 'DataCloneError', message: String(error) },
        } satisfies Done);
      }
    });
  });
  port.postMessage({ type: 'ready' } satisfies FromWorker);
}
