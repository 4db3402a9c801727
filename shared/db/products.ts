/**
 * Products in DynamoDB: the durable stock that no purchase can take below zero, and the product's
 * hot deal (its `deal` attribute).
 */
import { randomBytes } from 'node:crypto';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { DealState, ProductRecord } from '../model.ts';
import type { DealProductStore } from '../orders/ports.ts';
import type { ProductStore } from '../stock/ports.ts';
import { nextInSequence } from './counters.ts';
import { allPages } from './pagination.ts';
import { isConditionFailure } from './transactions.ts';

/** Id 0 is not a product: it is the row whose counter hands out product ids. */
const SEQUENCE_ID = 0;

export class ProductRepository implements ProductStore, DealProductStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  /** The next product id from the sequence row. */
  nextId(): Promise<number> {
    return nextInSequence(this.doc, this.tableName, { id: SEQUENCE_ID });
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

  /**
   * This store's id, the namespace of its Redis keys: a random id written once on the sequence row
   * (if_not_exists, so every caller gets the same one), new whenever the table is new.
   */
  async storeId(): Promise<string> {
    const { Attributes } = await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { id: SEQUENCE_ID },
        UpdateExpression: 'SET store_id = if_not_exists(store_id, :new)',
        ExpressionAttributeValues: { ':new': randomBytes(6).toString('hex') },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return String(Attributes?.store_id);
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
    const scan = {
      TableName: this.tableName,
      FilterExpression: 'id <> :sequence',
      ExpressionAttributeValues: { ':sequence': SEQUENCE_ID },
      ConsistentRead: consistent,
    };
    for await (const items of allPages(this.doc, scan))
      products.push(...(items as unknown as ProductRecord[]));
    return products.sort((a, b) => a.id - b.id);
  }

  /** Open a deal on the product unless one is open. False when one is. */
  async openDeal(productId: number, deal: DealState): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { id: productId },
          UpdateExpression: 'SET deal = :deal, updated_at = :now',
          ConditionExpression: 'attribute_exists(id) AND (attribute_not_exists(deal) OR deal.#s <> :open)',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':deal': deal, ':open': 'open', ':now': deal.started_at },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async closeDeal(productId: number, now: string): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { id: productId },
        UpdateExpression: 'SET deal.#s = :closed, deal.ended_at = :now, updated_at = :now',
        ConditionExpression: 'attribute_exists(deal)',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':closed': 'closed', ':now': now },
      }),
    );
  }
}
