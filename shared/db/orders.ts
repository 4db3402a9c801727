/**
 * Hot-deal orders in DynamoDB (the `orders` table). A PENDING order is durable from the 202 on;
 * every status change is a conditional write from PENDING, so of confirm, cancel and expire exactly
 * one wins. The confirm is one transaction over the orders, products and purchases tables.
 */
import { randomUUID } from 'node:crypto';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { OrderRecord, OrderStatus } from '../model.ts';
import type { ConfirmOutcome, OrderStore } from '../orders/ports.ts';
import { allPages } from './pagination.ts';
import { ORDERS_BY_PRODUCT_INDEX, ORDERS_BY_USER_INDEX, type TableRef, tableNameOf } from './tables.ts';
import { cancellationCodes, isConditionFailure, sendUntilDefinite, transactWrite } from './transactions.ts';

export class OrderRepository implements OrderStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly tableName: string,
    private readonly productsTable: TableRef,
    private readonly purchasesTable: TableRef,
  ) {}

  /**
   * False when an order with this id exists already. Resent while its outcome is unknown: the
   * condition makes a second landing impossible, so "exists" after a resend means ours landed.
   */
  async create(order: OrderRecord): Promise<boolean> {
    let sent = 0;
    try {
      await sendUntilDefinite(() => {
        sent += 1;
        return this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: order,
            ConditionExpression: 'attribute_not_exists(id)',
          }),
        );
      });
      return true;
    } catch (error) {
      // Refused on a resend: the first send landed (order ids are fresh ULIDs).
      if (isConditionFailure(error)) return sent > 1;
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
    const query = {
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
    };
    for await (const items of allPages(this.doc, query)) orders.push(...(items as unknown as OrderRecord[]));
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
        // One token per attempt: a resend after an unknown outcome gets this attempt's answer.
        ClientRequestToken: randomUUID(),
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
              TableName: tableNameOf(this.productsTable),
              Key: { id: order.product_id },
              UpdateExpression: 'SET stock = stock - :q, updated_at = :now',
              ConditionExpression: 'attribute_exists(id) AND stock >= :q',
              ExpressionAttributeValues: { ':q': order.quantity, ':now': now },
            },
          },
          {
            Put: {
              TableName: tableNameOf(this.purchasesTable),
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
}
