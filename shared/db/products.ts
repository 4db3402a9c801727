/**
 * Products in DynamoDB: the durable stock that no purchase can take below zero, and the product's
 * hot deal (its `deal` attribute).
 */
import { randomBytes } from 'node:crypto';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DealProduct, DealState, ProductRecord } from '../model.ts';
import type { DealProductStore, OpenDealOutcome } from '../orders/ports.ts';
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

  /**
   * Open `deal` unless a deal is open, another start won the generation, or units of the last deal
   * are still reserved (PENDING orders it did not settle: its end must run again). From here on
   * DynamoDB refuses ordinary purchases of the product (their condition) and gates its orders by
   * deal_free, which starts as the whole durable stock.
   */
  async openDeal(productId: number, deal: DealState, previousGeneration: number): Promise<OpenDealOutcome> {
    try {
      const { Attributes } = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { id: productId },
          UpdateExpression:
            'SET deal = :deal, deal_free = stock - if_not_exists(deal_reserved, :zero), ' +
            'deal_reserved = if_not_exists(deal_reserved, :zero), updated_at = :now',
          ConditionExpression:
            'attribute_exists(id) AND (attribute_not_exists(deal) OR deal.#s <> :open) AND ' +
            '(attribute_not_exists(deal_reserved) OR deal_reserved <= :zero) AND ' +
            (previousGeneration > 0
              ? 'deal.generation = :previous'
              : 'attribute_not_exists(deal.generation)'),
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: {
            ':deal': deal,
            ':open': 'open',
            ':zero': 0,
            ':now': deal.started_at,
            ...(previousGeneration > 0 && { ':previous': previousGeneration }),
          },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { status: 'opened', product: Attributes as DealProduct };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const item = (error as { Item?: Record<string, AttributeValue> }).Item;
      return { status: 'refused', product: item ? (unmarshall(item) as DealProduct) : null };
    }
  }

  /** Close deal `generation`: no order of it lands any more. A no-op when it is closed already. */
  async closeDeal(productId: number, now: string, generation: number): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { id: productId },
          UpdateExpression: 'SET deal.#s = :closed, deal.ended_at = :now, updated_at = :now',
          ConditionExpression: `deal.#s = :open AND ${generation > 0 ? 'deal.generation = :g' : 'attribute_not_exists(deal.generation)'}`,
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: {
            ':closed': 'closed',
            ':open': 'open',
            ':now': now,
            ...(generation > 0 && { ':g': generation }),
          },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }
}
