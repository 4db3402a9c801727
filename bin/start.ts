/**
 * `npm start`: the API on http://127.0.0.1:3000 over real Redis and DynamoDB Local. Ctrl-C stops it
 * all: the function workers, and the DynamoDB Local and redis-server it started.
 *
 * Each function runs in its own worker threads, as each Lambda invocation runs in its own sandbox:
 * up to 4 workers per function (LOCAL_CONCURRENCY, or LOCAL_CONCURRENCY_<FN> for one function, e.g.
 * LOCAL_CONCURRENCY_CREATE_PURCHASE=8) and 32 in all (LOCAL_MAX_WORKERS), each running one
 * invocation at a time; a function's extra requests wait in its queue, and past LOCAL_QUEUE_LIMIT
 * (1000) waiting requests get 429. Workers start on demand (one `cold start` log line each) and stay
 * warm. The stack's timeouts apply (10 s for HTTP functions; LOCAL_TIMEOUT_MS, LOCAL_TIMEOUT_MS_<FN>):
 * an invocation past it is ended and answers 503 FUNCTION_TIMEOUT. LOCAL_RUNTIME=in-process runs every
 * handler on one event loop instead, as the tests do. bin/local/settings.ts has the full table.
 */
import { WeakPasswordError } from '../shared/auth/password-limits.ts';
import { MissingPrerequisiteError } from './local/processes.ts';
import { startLocalRuntime } from './local/runtime.ts';

try {
  const runtime = await startLocalRuntime();
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log('stopping...');
    await runtime.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} catch (error) {
  if (error instanceof MissingPrerequisiteError) {
    console.error(error.message);
  } else if (error instanceof WeakPasswordError) {
    console.error(`ADMIN_PASSWORD refused: ${error.message}`);
  } else {
    console.error('could not start:', error);
  }
  process.exit(1);
}
