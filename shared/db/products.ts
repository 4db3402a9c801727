/** Products in DynamoDB: the durable stock that no purchase can take below zero. */
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Component, PurchaseStrategy } from '../stock/redis-stock.ts';

export interface ProductRecord {
  readonly id: number;
  readonly name: string;
  readonly description: string | null;
  readonly price: number;
  /** Durable stock: initial_stock minus every durable purchase, kept by the purchase transaction. */
  readonly stock: number;
  readonly initial_stock: number;
  readonly strategy: PurchaseStrategy;
  /** A bundle's parts (an "A+B+C set"): buying one takes these too, all or nothing. */
  readonly components?: readonly Component[];
  readonly created_at: string;
  readonly updated_at: string;
}

/** Id 0 is not a product: it is the row whose counter hands out product ids. */
const SEQUENCE_ID = 0;

export class ProductRepository {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  /** The next product id from an atomic counter (ADD is atomic under any concurrency). */
  async nextId(): Promise<number> {
    const { Attributes } = await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { id: SEQUENCE_ID },
        UpdateExpression: 'ADD next_id :one',
        ExpressionAttributeValues: { ':one': 1 },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(Attributes?.next_id);
  }

  async create(product: ProductRecord): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: product,
        ConditionExpression: 'attribute_not_exists(id)',
      }),
    );
  }

  /** A cheap read that proves the table answers (the health check). */
  async ping(): Promise<void> {
    await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { id: SEQUENCE_ID }, ProjectionExpression: 'id' }),
    );
  }

  async delete(id: number): Promise<void> {
    await this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: { id } }));
  }

  async get(id: number, consistent = false): Promise<ProductRecord | null> {
    if (id === SEQUENCE_ID) return null;
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { id }, ConsistentRead: consistent }),
    );
    return (Item as ProductRecord | undefined) ?? null;
  }

  /**
   * Every product, by id. A Scan: a flash-sale catalogue is small, and a single-partition index to
   * sort by would put every product's stock writes on one partition.
   */
  async listAll(consistent = false): Promise<ProductRecord[]> {
    const products: ProductRecord[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: 'id <> :sequence',
          ExpressionAttributeValues: { ':sequence': SEQUENCE_ID },
          ConsistentRead: consistent,
          ExclusiveStartKey,
        }),
      );
      products.push(...((page.Items ?? []) as ProductRecord[]));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return products.sort((a, b) => a.id - b.id);
  }
}
