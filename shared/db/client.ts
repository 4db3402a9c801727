/**
 * One DynamoDB document client per process (module scope in each Lambda), pointed at AWS, DynamoDB
 * Local or LocalStack by DYNAMODB_ENDPOINT.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config.ts';

type DynamoConfig = Pick<Config, 'AWS_REGION' | 'DYNAMODB_ENDPOINT'> &
  Partial<Pick<Config, 'DYNAMODB_CONNECT_TIMEOUT_MS' | 'DYNAMODB_REQUEST_TIMEOUT_MS'>>;

export function createDynamoClient(
  config: DynamoConfig,
  extra: { maxSockets?: number } = {},
): DynamoDBClient {
  const local = config.DYNAMODB_ENDPOINT !== undefined;
  return new DynamoDBClient({
    region: config.AWS_REGION,
    ...(local && {
      endpoint: config.DYNAMODB_ENDPOINT,
      // DynamoDB Local and LocalStack accept any key; without one the SDK would look for real ones.
      credentials: {
        accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'local',
        secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'local',
      },
    }),
    // Well below the Lambda timeout, so a stalled DynamoDB becomes a retryable answer, not a dead
    // function; the SDK retries (same token for transactions) within maxAttempts.
    requestHandler: {
      httpAgent: { keepAlive: true, maxSockets: extra.maxSockets ?? 128 },
      connectionTimeout: config.DYNAMODB_CONNECT_TIMEOUT_MS,
      requestTimeout: config.DYNAMODB_REQUEST_TIMEOUT_MS,
      // Without it the handler only warns and the call waits on.
      throwOnRequestTimeout: true,
    },
    maxAttempts: 3,
  });
}

export function createDocumentClient(
  config: DynamoConfig,
  extra: { maxSockets?: number } = {},
): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(createDynamoClient(config, extra), {
    marshallOptions: { removeUndefinedValues: true },
  });
}
