/**
 * Hot-deal orders in DynamoDB (the `orders` table), and the product's `deal` attribute. A PENDING
 * order is durable from the 202 on; every status change is a conditional write from PENDING, so of
 * confirm, cancel and expire exactly one wins.
 */
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ProductRecord } from '../db/products.ts';
import { ORDERS_BY_PRODUCT_INDEX, ORDERS_BY_USER_INDEX } from '../db/tables.ts';
import { cancellationCodes, transactWrite } from '../db/transactions.ts';

export type OrderStatus = 'PENDING' | 'CONFIRMED' | 'CANCELLED' | 'EXPIRED';

export interface OrderRecord {
  readonly id: string;
  readonly user_id: number;
  readonly product_id: number;
  readonly quantity: number;
  readonly unit_price: number;
  readonly total_price: number;
  readonly status: OrderStatus;
  readonly created_at: string;
  readonly expires_at: string;
  readonly updated_at: string;
}

export interface DealState {
  readonly status: 'open' | 'closed';
  readonly ends_at: string | null;
  readonly max_per_user: number | null;
  readonly reservation_ttl_seconds: number;
  readonly started_at: string;
  readonly ended_at: string | null;
}

export type DealProduct = ProductRecord & { readonly deal?: DealState };

export type ConfirmOutcome = 'confirmed' | 'order-changed' | 'insufficient';

const isConditionFailure = (error: unknown) =>
  (error as { name?: string }).name === 'ConditionalCheckFailedException';

export class OrderRepository {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly tableName: string,
    private readonly productsTable: string,
    private readonly purchasesTable: string,
  ) {}

  /** False when an order with this id exists already. */
  async create(order: OrderRecord): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: order,
          ConditionExpression: 'attribute_not_exists(id)',
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async get(id: string): Promise<OrderRecord | null> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { id }, ConsistentRead: true }),
    );
    return (Item as OrderRecord | undefined) ?? null;
  }

  /** A user's orders, newest first (the index is eventually consistent in AWS). */
  async listByUser(userId: number, limit = 100): Promise<OrderRecord[]> {
    const { Items } = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: ORDERS_BY_USER_INDEX,
        KeyConditionExpression: 'user_id = :u',
        ExpressionAttributeValues: { ':u': userId },
        ScanIndexForward: false,
        Limit: limit,
      }),
    );
    return (Items ?? []) as OrderRecord[];
  }

  /** A product's orders, optionally only those with one status. */
  async listByProduct(productId: number, status?: OrderStatus): Promise<OrderRecord[]> {
    const orders: OrderRecord[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: ORDERS_BY_PRODUCT_INDEX,
          KeyConditionExpression: 'product_id = :p',
          ...(status
            ? {
                FilterExpression: '#s = :s',
                ExpressionAttributeNames: { '#s': 'status' },
                ExpressionAttributeValues: { ':p': productId, ':s': status },
              }
            : { ExpressionAttributeValues: { ':p': productId } }),
          ExclusiveStartKey,
        }),
      );
      orders.push(...((page.Items ?? []) as OrderRecord[]));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return orders;
  }

  /**
   * PENDING → `to`, only if still PENDING (and for EXPIRED with `expiredAt`, only if its time is up).
   * True when this call made the change.
   */
  async settle(id: string, to: 'CANCELLED' | 'EXPIRED', now: string, expiredAt?: string): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { id },
          UpdateExpression: 'SET #s = :to, updated_at = :now',
          ConditionExpression: `#s = :pending${expiredAt ? ' AND expires_at <= :at' : ''}`,
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: {
            ':to': to,
            ':now': now,
            ':pending': 'PENDING',
            ...(expiredAt && { ':at': expiredAt }),
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /**
   * The payment callback's durable write, one transaction: the order PENDING → CONFIRMED (only while
   * unexpired), the product's stock decrement (only if it covers it), and a purchase row that the
   * history and the audit count (same id as the order).
   */
  async confirm(order: OrderRecord, now: string): Promise<ConfirmOutcome> {
    const purchase = {
      id: order.id,
      user_id: order.user_id,
      items: [
        {
          product_id: order.product_id,
          quantity: order.quantity,
          unit_price: order.unit_price,
          total_price: order.total_price,
        },
      ],
      lines: [{ product_id: order.product_id, quantity: order.quantity }],
      product_id: order.product_id,
      quantity: order.quantity,
      total_price: order.total_price,
      purchased_at: now,
      order_id: order.id,
      stock_product_id: order.product_id,
      stock_quantity: order.quantity,
    };
    try {
      await transactWrite(this.doc, {
        TransactItems: [
          {
            Update: {
              TableName: this.tableName,
              Key: { id: order.id },
              UpdateExpression: 'SET #s = :confirmed, updated_at = :now',
              ConditionExpression: '#s = :pending AND expires_at > :now',
              ExpressionAttributeNames: { '#s': 'status' },
              ExpressionAttributeValues: { ':confirmed': 'CONFIRMED', ':pending': 'PENDING', ':now': now },
            },
          },
          {
            Update: {
              TableName: this.productsTable,
              Key: { id: order.product_id },
              UpdateExpression: 'SET stock = stock - :q, updated_at = :now',
              ConditionExpression: 'attribute_exists(id) AND stock >= :q',
              ExpressionAttributeValues: { ':q': order.quantity, ':now': now },
            },
          },
          {
            Put: {
              TableName: this.purchasesTable,
              Item: purchase,
              ConditionExpression: 'attribute_not_exists(id)',
            },
          },
        ],
      });
      return 'confirmed';
    } catch (error) {
      const codes = cancellationCodes(error);
      if (codes?.[0] === 'ConditionalCheckFailed' || codes?.[2] === 'ConditionalCheckFailed')
        return 'order-changed';
      if (codes?.[1] === 'ConditionalCheckFailed') return 'insufficient';
      throw error;
    }
  }

  /** Open a deal on the product unless one is open. False when one is. */
  async openDeal(productId: number, deal: DealState): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.productsTable,
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
        TableName: this.productsTable,
        Key: { id: productId },
        UpdateExpression: 'SET deal.#s = :closed, deal.ended_at = :now, updated_at = :now',
        ConditionExpression: 'attribute_exists(deal)',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':closed': 'closed', ':now': now },
      }),
    );
  }
}
