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
// The connection too: an audit of every product opens many sockets to DynamoDB Local at once.
process.env.DYNAMODB_CONNECT_TIMEOUT_MS = '10000';
process.env.REDIS_COMMAND_TIMEOUT_MS = '10000';
// The functions' timeout as their context reports it, long enough for the budgets above: a lock
// waiter keeps a DynamoDB timeout in reserve before its invocation ends (below HOLD_STALE_AFTER_MS).
process.env.LOCAL_TIMEOUT_MS = '50000';
// The handlers' EMF lines (a few per request) would flood the test output; tests/integration/metrics
// and breaker turn them back on to read them.
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
// Tests read a product right after buying it; tests/integration/read-cache.test.ts turns the cache on.
process.env.PRODUCT_READ_CACHE_MS = '0';
// Likewise the catalogue's shared Scan (tests/integration/security-matrix.test.ts turns it on).
process.env.PRODUCT_LIST_CACHE_MS = '0';
// Breakers out of the way: here every function runs in one process and shares one breaker per
// service (in Lambda each function's containers have their own), so an audit's fan-out timing out on
// a loaded machine, or a file that breaks DynamoDB on purpose, would open it for the next test.
// tests/integration/breaker.test.ts sets its own. Set in every file: one test worker may run several
// files one after another, and a file's settings must not leak.
process.env.BREAKER_FAILURE_THRESHOLD = '1000000';
process.env.BREAKER_OPEN_MS = '5000';
