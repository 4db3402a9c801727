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
import { DurableOutcomeUnknownError } from '../outcome.ts';
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

/**
 * Cancelled for contention alone, so nothing was applied and the same transaction may go again: a
 * conflict with another transaction, or the item's write capacity (`ThrottlingError`, which the SDK
 * does not retry for a cancelled transaction as it does ProvisionedThroughputExceededException).
 */
const CONTENTION: readonly CancellationCode[] = ['TransactionConflict', 'ThrottlingError'];
const isConflictOnly = (codes: CancellationCode[]) =>
  codes.some((code) => CONTENTION.includes(code)) &&
  codes.every((code) => code === 'None' || CONTENTION.includes(code));

export interface TransactRetry {
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Resends of a transaction whose outcome is unknown (timeout, reset, 5xx, in progress). */
  readonly resends: number;
}

export const TRANSACT_RETRY: TransactRetry = { attempts: 12, baseDelayMs: 5, maxDelayMs: 100, resends: 4 };

/**
 * Whether a failed call certainly changed nothing: DynamoDB answered with a client error (a 4xx:
 * validation, throttling, access) other than "the same transaction is in progress", or the
 * connection was refused before anything was sent. Everything else is ambiguous.
 */
export function certainlyNotApplied(error: unknown): boolean {
  const e = error as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  if (e.name === 'TransactionInProgressException' || e.name === 'IdempotentParameterMismatchException')
    return false;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 400 && status < 500) return true;
  return e.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(String((error as Error)?.message));
}

/**
 * A conditional write that is safe to send again (its condition makes a second landing a no-op),
 * resent while its outcome is unknown; DurableOutcomeUnknownError when no definite answer comes.
 */
export async function sendUntilDefinite<T>(
  send: () => Promise<T>,
  retry: TransactRetry = TRANSACT_RETRY,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      if (isConditionFailure(error) || certainlyNotApplied(error)) throw error;
      if (attempt > retry.resends) {
        throw new DurableOutcomeUnknownError(`No definite outcome after ${retry.resends} resends`, {
          cause: error,
        });
      }
      await sleep(backoff(attempt, retry.baseDelayMs, retry.maxDelayMs));
    }
  }
}

/**
 * One transaction, retried where retrying is safe:
 * - cancelled only by conflicts with other transactions (contention): again, with backoff;
 * - outcome unknown, with a `ClientRequestToken`: resent with the same token, which DynamoDB
 *   answers with the first attempt's outcome (applied once at most) until it gives a definite one;
 *   if none comes, DurableOutcomeUnknownError.
 * Condition failures are answers and go back to the caller, as do errors that changed nothing.
 */
export async function transactWrite(
  doc: DynamoDBDocumentClient,
  input: TransactWriteCommandInput,
  retry: TransactRetry = TRANSACT_RETRY,
): Promise<void> {
  let resends = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      await doc.send(new TransactWriteCommand(input));
      return;
    } catch (error) {
      const codes = cancellationCodes(error);
      if (codes) {
        if (!isConflictOnly(codes) || attempt >= retry.attempts) throw error;
      } else if (certainlyNotApplied(error) || !input.ClientRequestToken) {
        throw error;
      } else if (++resends > retry.resends) {
        throw new DurableOutcomeUnknownError(
          `Transaction ${input.ClientRequestToken}: no definite outcome after ${retry.resends} resends`,
          { cause: error },
        );
      }
      await sleep(backoff(attempt, retry.baseDelayMs, retry.maxDelayMs));
    }
  }
}
