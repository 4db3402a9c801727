/** Purchases in DynamoDB. A purchase and its stock decrement are one transaction. */
import { type DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { PURCHASES_BY_PRODUCT_INDEX, PURCHASES_BY_USER_INDEX } from './tables.ts';
import { cancellationCodes, transactWrite } from './transactions.ts';

export interface PurchaseRecord {
  readonly id: string;
  readonly user_id: number;
  readonly product_id: number;
  readonly quantity: number;
  readonly total_price: number;
  readonly purchased_at: string;
  /** Hash of the request body when an Idempotency-Key made the id; a retry must match it. */
  readonly request_fingerprint?: string;
}

/** What DynamoDB said about a purchase transaction that did not go through. */
export type RecordOutcome = 'recorded' | 'duplicate' | 'insufficient';

export class PurchaseRepository {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly tableName: string,
    private readonly productsTable: string,
  ) {}

  /**
   * The durable write: the purchase (only if its id is new) and the product's decrement (only if
   * the durable stock covers it), all or nothing. DynamoDB can never go below zero, whatever Redis
   * believes. Errors other than these two answers are thrown as they are.
   */
  async record(purchase: PurchaseRecord): Promise<RecordOutcome> {
    try {
      await transactWrite(this.doc, {
        TransactItems: [
          {
            Put: {
              TableName: this.tableName,
              Item: purchase,
              ConditionExpression: 'attribute_not_exists(id)',
            },
          },
          {
            Update: {
              TableName: this.productsTable,
              Key: { id: purchase.product_id },
              UpdateExpression: 'SET stock = stock - :q, updated_at = :now',
              ConditionExpression: 'attribute_exists(id) AND stock >= :q',
              ExpressionAttributeValues: { ':q': purchase.quantity, ':now': purchase.purchased_at },
            },
          },
        ],
      });
      return 'recorded';
    } catch (error) {
      const codes = cancellationCodes(error);
      if (codes?.[0] === 'ConditionalCheckFailed') return 'duplicate';
      if (codes?.[1] === 'ConditionalCheckFailed') return 'insufficient';
      throw error;
    }
  }

  async get(id: string): Promise<PurchaseRecord | null> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { id }, ConsistentRead: true }),
    );
    return (Item as PurchaseRecord | undefined) ?? null;
  }

  /** A user's purchases, newest first (the index is eventually consistent in AWS: a fresh one may lag). */
  async listByUser(userId: number, limit = 100): Promise<PurchaseRecord[]> {
    const { Items } = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: PURCHASES_BY_USER_INDEX,
        KeyConditionExpression: 'user_id = :u',
        ExpressionAttributeValues: { ':u': userId },
        ScanIndexForward: false,
        Limit: limit,
      }),
    );
    return (Items ?? []) as PurchaseRecord[];
  }

  /** Units sold of one product, summed over every durable purchase (the audit's slow, exact count). */
  async unitsSold(productId: number): Promise<number> {
    let sold = 0;
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: PURCHASES_BY_PRODUCT_INDEX,
          KeyConditionExpression: 'product_id = :p',
          ExpressionAttributeValues: { ':p': productId },
          ProjectionExpression: 'quantity',
          ExclusiveStartKey,
        }),
      );
      for (const item of page.Items ?? []) sold += Number(item.quantity);
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return sold;
  }
}
