/**
 * DynamoDB transactions that touch a hot item (a product's stock row, a username) are cancelled with
 * `TransactionConflict` when another transaction holds the item. That is contention, not an answer:
 * retry with backoff and jitter. Condition failures are answers and go back to the caller.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { type AttributeValue, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { backoff } from '../retry.ts';

export type CancellationCode = 'None' | 'ConditionalCheckFailed' | 'TransactionConflict' | string;

/** A conditional write whose condition was false: an answer, not a failure. */
export const isConditionFailure = (error: unknown) =>
  (error as { name?: string }).name === 'ConditionalCheckFailedException';

/** The per-item reasons of a cancelled transaction, in the order of its items. */
export function cancellationCodes(error: unknown): CancellationCode[] | null {
  if (!(error instanceof TransactionCanceledException)) return null;
  return (error.CancellationReasons ?? []).map((reason) => reason.Code ?? 'None');
}

/** The items as they were when a cancelled transaction's conditions failed (ALL_OLD), in order. */
export function cancelledItems(error: unknown): (Record<string, unknown> | undefined)[] | null {
  if (!(error instanceof TransactionCanceledException)) return null;
  return (error.CancellationReasons ?? []).map((reason) =>
    reason.Item ? unmarshall(reason.Item as Record<string, AttributeValue>) : undefined,
  );
}

const isConflictOnly = (codes: CancellationCode[]) =>
  codes.includes('TransactionConflict') && !codes.includes('ConditionalCheckFailed');

export interface TransactRetry {
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const TRANSACT_RETRY: TransactRetry = { attempts: 12, baseDelayMs: 5, maxDelayMs: 100 };

export async function transactWrite(
  doc: DynamoDBDocumentClient,
  input: TransactWriteCommandInput,
  retry: TransactRetry = TRANSACT_RETRY,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await doc.send(new TransactWriteCommand(input));
      return;
    } catch (error) {
      const codes = cancellationCodes(error);
      if (!codes || !isConflictOnly(codes) || attempt >= retry.attempts) throw error;
      await sleep(backoff(attempt, retry.baseDelayMs, retry.maxDelayMs));
    }
  }
}
