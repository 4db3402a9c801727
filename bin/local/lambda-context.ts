/**
 * The Lambda context a handler receives, built from data that can cross a thread boundary. Kept free
 * of other imports: it is bundled into every function's worker (bundle.ts).
 */
import type { Context } from 'aws-lambda';

/** The memory every function gets in the stack (lib/endpoint-function.ts). */
export const FUNCTION_MEMORY_MB = 1024;

/** The part of a Lambda context that crosses a thread boundary: data only, no functions. */
export interface InvocationContext {
  readonly functionName: string;
  readonly awsRequestId: string;
  /** Epoch ms when the function's timeout ends this invocation. */
  readonly deadline: number;
  readonly memoryLimitInMB: number;
}

export function lambdaContext(
  functionName: string,
  requestId: string,
  deadline = Date.now() + 10_000,
  memoryLimitInMB = FUNCTION_MEMORY_MB,
): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: String(memoryLimitInMB),
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export function contextOf(invocation: InvocationContext): Context {
  return lambdaContext(
    invocation.functionName,
    invocation.awsRequestId,
    invocation.deadline,
    invocation.memoryLimitInMB,
  );
}

/** A Lambda handler as the runtime calls it (every handler here is async). */
export type LambdaHandler = (event: unknown, context: Context) => Promise<unknown>;
