/**
 * The audit log in DynamoDB: append-only rows (shared/model.ts AuditEntry). A change that is itself
 * a DynamoDB write puts its row in the same transaction (`auditPut`, used by the other repositories);
 * a change made only in Redis (a restore, a repair, a forced lock release) appends its row after.
 */
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { AuditEntry } from '../model.ts';
import { onePage, type Page } from './pagination.ts';
import { AUDIT_BY_PRODUCT_INDEX, AUDIT_FEED_INDEX, type TableRef, tableNameOf } from './tables.ts';

/** The one partition of the `byTime` index (see tables.ts). */
const FEED = 'all';

/** A transaction item that appends `entry`; an id already there cancels the transaction. */
export function auditPut(table: TableRef, entry: AuditEntry) {
  return {
    Put: {
      TableName: tableNameOf(table),
      Item: { ...entry, feed: FEED },
      ConditionExpression: 'attribute_not_exists(id)',
    },
  };
}

export interface AuditQuery {
  readonly productId?: number | undefined;
  readonly limit: number;
  readonly cursor?: string | undefined;
}

function entryOf(item: Record<string, unknown>): AuditEntry {
  const { feed: _feed, ...entry } = item;
  return entry as unknown as AuditEntry;
}

export class AuditRepository {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  /** Append one row (for a change that is not a DynamoDB write). */
  async append(entry: AuditEntry): Promise<void> {
    await this.doc.send(new PutCommand(auditPut(this.tableName, entry).Put));
  }

  /** Whether the row exists: a change whose transaction wrote this row has landed. */
  async has(id: string): Promise<boolean> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { id },
        ConsistentRead: true,
        ProjectionExpression: 'id',
      }),
    );
    return Item !== undefined;
  }

  /** Newest first: one product's rows, or every row. */
  async list(query: AuditQuery): Promise<Page<AuditEntry>> {
    const byProduct = query.productId !== undefined;
    const page = await onePage(
      this.doc,
      {
        TableName: this.tableName,
        IndexName: byProduct ? AUDIT_BY_PRODUCT_INDEX : AUDIT_FEED_INDEX,
        KeyConditionExpression: byProduct ? 'product_id = :k' : 'feed = :k',
        ExpressionAttributeValues: { ':k': byProduct ? query.productId : FEED },
        ScanIndexForward: false,
      },
      {
        limit: query.limit,
        cursor: query.cursor,
        shape: byProduct ? { id: 'S', product_id: 'N' } : { id: 'S', feed: 'S' },
      },
    );
    return { items: page.items.map(entryOf), nextCursor: page.nextCursor };
  }
}
