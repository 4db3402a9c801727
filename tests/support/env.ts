/** Runs in each integration test worker before the test file: point the service at the test servers. */
import { inject } from 'vitest';

process.env.REDIS_URL = inject('redisUrl');
process.env.DYNAMODB_ENDPOINT = inject('dynamoEndpoint');
process.env.JWT_SECRET = 'integration-test-signing-key-0123456789abcdef';
// bcrypt at cost 4 keeps hundreds of test logins fast; production defaults to 10.
process.env.BCRYPT_COST = '4';
process.env.RECONCILE_ON_START = 'false';
process.env.LOG_LEVEL = 'ERROR';
process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
