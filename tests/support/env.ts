/** Runs in each integration test worker before the test file: point the service at the test servers. */
import { inject } from 'vitest';
import { newSigningKey } from '../../shared/auth/keys.ts';

process.env.REDIS_URL = inject('redisUrl');
// On the cluster project the service speaks the cluster protocol, as a deployed cluster-mode stack does.
if (inject('redisClusterNodes')) process.env.REDIS_CLUSTER_NODES = inject('redisClusterNodes');
process.env.DYNAMODB_ENDPOINT = inject('dynamoEndpoint');
// A fresh ES256 key per worker; verifiers use its public half (the local stage's default).
process.env.JWT_SIGNING_KEY = JSON.stringify(newSigningKey());
// bcrypt at cost 4 keeps hundreds of test logins fast; production defaults to 10.
process.env.BCRYPT_COST = '4';
process.env.RECONCILE_ON_START = 'false';
// Tests assert correctness (no deadlock, exact stock), not speed. On a 2-core CI machine the other
// test projects (CDK bundling, load smoke) share the CPU, and a 5 s budget can run out for reasons
// that are the machine's, not the lock's; the benchmark measures with the production default.
process.env.LOCK_WAIT_BUDGET_MS = '20000';
process.env.LOG_LEVEL = 'ERROR';
process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
// Per-call timeouts likewise: tests prove answers are exact, and a loaded CI machine may make
// DynamoDB Local slower than production's 3 s budget without anything being wrong.
process.env.DYNAMODB_REQUEST_TIMEOUT_MS = '20000';
process.env.REDIS_COMMAND_TIMEOUT_MS = '10000';
// The functions' timeout as their context reports it, long enough for the budgets above: a lock
// waiter keeps a DynamoDB timeout in reserve before its invocation ends (below HOLD_STALE_AFTER_MS).
process.env.LOCAL_TIMEOUT_MS = '50000';
