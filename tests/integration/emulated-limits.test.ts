/**
 * The DynamoDB limits emulation (shared/db/emulated-limits.ts) in front of the tests' DynamoDB
 * Local: conflicts between overlapping transactions, also from another process; per-item write
 * capacity throttled with DynamoDB's own exceptions and recovered by retries; items that never
 * touch each other.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateTableCommand,
  DynamoDBClient,
  ProvisionedThroughputExceededException,
  TransactionCanceledException,
  TransactionConflictException,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type EmulationProxy, startEmulationProxy } from '../../shared/db/emulated-limits.ts';
import { cancellationCodes, transactWrite } from '../../shared/db/transactions.ts';

const TABLE = `emulation-${randomUUID().slice(0, 8)}`;
const dynamoLocal = inject('dynamoEndpoint');

/** A client of its own (its own sockets), as each function worker has. */
const clientOf = (endpoint: string, maxAttempts = 1) =>
  DynamoDBDocumentClient.from(
    new DynamoDBClient({
      region: 'us-east-1',
      endpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts,
    }),
  );

const increment = (pk: string) => ({
  Update: {
    TableName: TABLE,
    Key: { pk },
    UpdateExpression: 'ADD n :one',
    ExpressionAttributeValues: { ':one': 1 },
  },
});

/** Whether a promise settled with the error, kept as data so a race's outcomes can be counted. */
const settle = (promise: Promise<unknown>) =>
  promise.then(
    () => ({ ok: true as const }),
    (error: unknown) => ({ ok: false as const, error }),
  );

async function countOf(pk: string) {
  const item = await clientOf(dynamoLocal).send(new GetCommand({ TableName: TABLE, Key: { pk } }));
  return Number(item.Item?.n ?? 0);
}

// A slow item: every transaction holds its items ≥ 2 × 0.65 × 150 ms, so overlaps are certain.
let slow: EmulationProxy;
// A tight item: a few write units a second, answers at once.
const TIGHT_WCU = 5;
let tight: EmulationProxy;

beforeAll(async () => {
  await clientOf(dynamoLocal).send(
    new CreateTableCommand({
      TableName: TABLE,
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  slow = await startEmulationProxy(dynamoLocal, { itemWcu: 1_000, latencyMs: 150 });
  tight = await startEmulationProxy(dynamoLocal, { itemWcu: TIGHT_WCU, latencyMs: 0 });
});
afterAll(async () => {
  await Promise.all([slow?.close(), tight?.close()]);
});

describe('the DynamoDB limits emulation', () => {
  it('cancels the second of two overlapping transactions on one item with TransactionConflict', async () => {
    const pk = randomUUID();
    const [first, second] = await Promise.all([
      settle(clientOf(slow.url).send(new TransactWriteCommand({ TransactItems: [increment(pk)] }))),
      sleep(20).then(() =>
        settle(clientOf(slow.url).send(new TransactWriteCommand({ TransactItems: [increment(pk)] }))),
      ),
    ]);

    expect(first.ok).toBe(true);
    expect(second.ok).toBe(false);
    const error = second.ok ? undefined : second.error;
    expect(error).toBeInstanceOf(TransactionCanceledException);
    expect(cancellationCodes(error)).toEqual(['TransactionConflict']);
    expect(await countOf(pk)).toBe(1);
  });

  it('shows the conflict to a writer in another process, for a transaction and for a plain update', async () => {
    const pk = randomUUID();
    const before = slow.stats().transactions;
    // Another process holds a transaction on the item (as another function worker would).
    const other = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { DynamoDBClient, TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
         const client = new DynamoDBClient({ region: 'us-east-1', endpoint: '${slow.url}',
           credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
         await client.send(new TransactWriteItemsCommand({ TransactItems: [{ Update: {
           TableName: '${TABLE}', Key: { pk: { S: '${pk}' } }, UpdateExpression: 'ADD n :one',
           ExpressionAttributeValues: { ':one': { N: '1' } } } }] }));`,
      ],
      { stdio: 'inherit' },
    );
    const otherExit = new Promise<number | null>((resolve) => other.once('exit', resolve));
    // Its transaction is admitted (and holds the item for at least 195 ms).
    while (slow.stats().transactions === before) await sleep(2);

    const [transaction, update] = await Promise.all([
      settle(clientOf(slow.url).send(new TransactWriteCommand({ TransactItems: [increment(pk)] }))),
      settle(clientOf(slow.url).send(new UpdateCommand(increment(pk).Update))),
    ]);

    expect(transaction.ok ? [] : cancellationCodes(transaction.error)).toEqual(['TransactionConflict']);
    expect(update.ok ? undefined : update.error).toBeInstanceOf(TransactionConflictException);
    expect(await otherExit).toBe(0);
    expect(await countOf(pk)).toBe(1);
  });

  it('lets transactions on different items overlap', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    const outcomes = await Promise.all(
      [a, b].map((pk) =>
        settle(clientOf(slow.url).send(new TransactWriteCommand({ TransactItems: [increment(pk)] }))),
      ),
    );
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect([await countOf(a), await countOf(b)]).toEqual([1, 1]);
  });

  it("throttles a single item's writes past its capacity with ProvisionedThroughputExceededException; SDK retries land them all", async () => {
    const pk = randomUUID();
    const once = clientOf(tight.url, 1);
    const started = performance.now();
    const first = await Promise.all(
      Array.from({ length: 30 }, () => settle(once.send(new UpdateCommand(increment(pk).Update)))),
    );
    const seconds = (performance.now() - started) / 1000;
    const landed = first.filter((o) => o.ok).length;
    // The bucket's one second of savings, and what it refilled while the burst lasted: no more.
    expect(landed).toBeLessThanOrEqual(Math.floor(TIGHT_WCU * (1 + seconds)));
    expect(landed).toBeGreaterThanOrEqual(TIGHT_WCU);
    for (const o of first.filter((o) => !o.ok))
      expect(o.ok ? undefined : o.error).toBeInstanceOf(ProvisionedThroughputExceededException);

    // More through a client that retries (the SDK backs throttling off from 500 ms): all land.
    const retrying = clientOf(tight.url, 8);
    await Promise.all(
      Array.from({ length: 8 }, () => retrying.send(new UpdateCommand(increment(pk).Update))),
    );
    expect(await countOf(pk)).toBe(landed + 8);
  });

  it('cancels a transaction past the capacity with ThrottlingError, at two units per write, and a retry lands it', async () => {
    const pk = randomUUID();
    const once = clientOf(tight.url, 1);
    let landed = 0;
    let refusal: unknown;
    const started = performance.now();
    while (refusal === undefined && landed < 50) {
      const outcome = await settle(once.send(new TransactWriteCommand({ TransactItems: [increment(pk)] })));
      if (outcome.ok) landed++;
      else refusal = outcome.error;
    }
    const seconds = (performance.now() - started) / 1000;
    // Two units each: half as many transactions as the units saved and refilled meanwhile.
    expect(landed).toBeLessThanOrEqual(Math.floor((TIGHT_WCU * (1 + seconds)) / 2));
    expect(refusal).toBeInstanceOf(TransactionCanceledException);
    expect(cancellationCodes(refusal)).toEqual(['ThrottlingError']);

    // The service's transaction helper retries contention (conflicts and throttling) with backoff.
    await transactWrite(once, { TransactItems: [increment(pk)] });
    expect(await countOf(pk)).toBe(landed + 1);
  });

  it("does not throttle an item because another item's capacity is spent", async () => {
    const [hot, cold] = [randomUUID(), randomUUID()];
    const once = clientOf(tight.url, 1);
    await Promise.all(
      Array.from({ length: 30 }, () => settle(once.send(new UpdateCommand(increment(hot).Update)))),
    );
    await expect(once.send(new UpdateCommand(increment(cold).Update))).resolves.toBeDefined();
    expect(await countOf(cold)).toBe(1);
  });
});
