/**
 * Pages of a Query or Scan: DynamoDB answers at most 1 MB (or `Limit` items) per call and says where
 * to go on. `allPages` is the one loop for a repository that needs a whole result; `onePage` hands a
 * client one page and an opaque cursor to the next (the admin listings).
 */
import {
  type DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
  type ScanCommandInput,
} from '@aws-sdk/lib-dynamodb';

type PageInput = Omit<QueryCommandInput, 'ExclusiveStartKey'> | Omit<ScanCommandInput, 'ExclusiveStartKey'>;

/** Yields each page's items; a Query when the input has a key condition, a Scan otherwise. */
export async function* allPages(
  doc: DynamoDBDocumentClient,
  input: PageInput,
): AsyncGenerator<Record<string, unknown>[]> {
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page =
      'KeyConditionExpression' in input && input.KeyConditionExpression
        ? await doc.send(new QueryCommand({ ...(input as QueryCommandInput), ExclusiveStartKey }))
        : await doc.send(new ScanCommand({ ...(input as ScanCommandInput), ExclusiveStartKey }));
    yield (page.Items ?? []) as Record<string, unknown>[];
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
}

/** A cursor that does not decode to a position this listing could have handed out. */
export class InvalidCursorError extends Error {
  override readonly name = 'InvalidCursorError';
  constructor() {
    super('cursor is not one this listing returned');
  }
}

export interface Page<T> {
  readonly items: T[];
  /** Where the next page starts; null on the last page. */
  readonly nextCursor: string | null;
}

/** The key attributes a listing's position is made of, and their DynamoDB types. */
export type CursorShape = Readonly<Record<string, 'S' | 'N'>>;

/** An opaque cursor: DynamoDB's LastEvaluatedKey, base64url JSON. */
export function encodeCursor(key: Record<string, unknown> | undefined): string | null {
  return key ? Buffer.from(JSON.stringify(key)).toString('base64url') : null;
}

/**
 * The position a cursor names, checked against the listing's key shape: a cursor edited by hand or
 * taken from another listing is a client error (422), never a DynamoDB validation error (500).
 */
export function decodeCursor(cursor: string, shape: CursorShape): Record<string, unknown> {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError();
  }
  if (typeof key !== 'object' || key === null || Array.isArray(key)) throw new InvalidCursorError();
  const entries = Object.entries(key);
  const fits =
    entries.length === Object.keys(shape).length &&
    entries.every(([name, value]) => {
      const type = shape[name];
      if (type === 'S') return typeof value === 'string' && value.length > 0 && value.length <= 1024;
      return type === 'N' && Number.isSafeInteger(value);
    });
  if (!fits) throw new InvalidCursorError();
  return key as Record<string, unknown>;
}

/**
 * One page of a Query or Scan from a cursor. DynamoDB applies a FilterExpression after `Limit`, so
 * a filtered page may hold fewer than `limit` items while `nextCursor` still leads on.
 */
export async function onePage(
  doc: DynamoDBDocumentClient,
  input: PageInput,
  options: { readonly limit: number; readonly cursor?: string | undefined; readonly shape: CursorShape },
): Promise<Page<Record<string, unknown>>> {
  const ExclusiveStartKey = options.cursor ? decodeCursor(options.cursor, options.shape) : undefined;
  const paged = { ...input, Limit: options.limit, ExclusiveStartKey };
  const page =
    'KeyConditionExpression' in input && input.KeyConditionExpression
      ? await doc.send(new QueryCommand(paged as QueryCommandInput))
      : await doc.send(new ScanCommand(paged as ScanCommandInput));
  return {
    items: (page.Items ?? []) as Record<string, unknown>[],
    nextCursor: encodeCursor(page.LastEvaluatedKey),
  };
}
