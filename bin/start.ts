/** `npm start`: the API on http://127.0.0.1:3000 over real Redis and DynamoDB Local. Ctrl-C stops it all. */
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
  } else {
    console.error('could not start:', error);
  }
  process.exit(1);
}
