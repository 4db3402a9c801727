/**
 * Hot-deal orders in DynamoDB (the `orders` table). A PENDING order is durable from the 202 on;
 * every status change is a conditional write from PENDING, so of confirm, cancel and expire exactly
 * one wins.
 *
 * DynamoDB is the final gate of a deal, as it is of purchases: an order lands in one transaction with
 * the product's `deal_free -= q` (only while that deal generation is open and the free units cover
 * it) and the buyer's count in this generation (only within the cap). A PENDING order's units are
 * therefore always covered by the durable stock, whatever Redis forgot: every 202 stays confirmable
 * until it expires. Cancel and expire give the units back in the same transaction as the status.
 */
import { randomUUID } from 'node:crypto';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { OrderRecord, OrderStatus } from '../model.ts';
import type { ConfirmOutcome, CreateOutcome, OrderPage, OrderStore } from '../orders/ports.ts';
import { allPages } from './pagination.ts';
import { ORDERS_BY_PRODUCT_INDEX, ORDERS_BY_USER_INDEX, type TableRef, tableNameOf } from './tables.ts';
import { cancellationCodes, cancelledItems, transactWrite } from './transactions.ts';

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/**
 * A buyer's units in one deal generation, beside the orders (never in an index: it has neither
 * user_id nor product_id). Its own item per buyer, so the cap adds no hot item.
 */
export const dealBuyerId = (productId: number, generation: number, userId: number) =>
  `dealbuyer#${productId}#${generation}#${userId}`;

export class OrderRepository implements OrderStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly tableName: string,
    private readonly productsTable: TableRef,
    private readonly purchasesTable: TableRef,
  ) {}

  private buyerCount(order: OrderRecord, delta: number, maxPerUser = 0): TransactItem {
    return {
      Update: {
        TableName: this.tableName,
        Key: { id: dealBuyerId(order.product_id, order.deal_generation ?? 0, order.user_id) },
        UpdateExpression: 'ADD units :d',
        ...(maxPerUser > 0
          ? {
              ConditionExpression: 'attribute_not_exists(units) OR units <= :room',
              ExpressionAttributeValues: { ':d': delta, ':room': maxPerUser - order.quantity },
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
            }
          : { ExpressionAttributeValues: { ':d': delta } }),
      },
    };
  }

  /**
   * The PENDING order, the product's free units and the buyer's count, all or nothing. Resent with
   * the same ClientRequestToken while its outcome is unknown (applied once at most).
   */
  async create(order: OrderRecord, maxPerUser: number): Promise<CreateOutcome> {
    const generation = order.deal_generation ?? 0;
    try {
      await transactWrite(this.doc, {
        ClientRequestToken: randomUUID(),
        TransactItems: [
          {
            Put: {
              TableName: this.tableName,
              Item: order,
              ConditionExpression: 'attribute_not_exists(id)',
            },
          },
          {
            Update: {
              TableName: tableNameOf(this.productsTable),
              Key: { id: order.product_id },
              UpdateExpression: 'ADD deal_free :take, deal_reserved :q',
              ConditionExpression: 'deal.#s = :open AND deal.generation = :g AND deal_free >= :q',
              ExpressionAttributeNames: { '#s': 'status' },
              ExpressionAttributeValues: {
                ':take': -order.quantity,
                ':q': order.quantity,
                ':open': 'open',
                ':g': generation,
              },
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            },
          },
          this.buyerCount(order, order.quantity, maxPerUser),
        ],
      });
      return { status: 'created' };
    } catch (error) {
      const codes = cancellationCodes(error);
      if (!codes) throw error;
      const items = cancelledItems(error) ?? [];
      // Order ids are fresh ULIDs: an existing one is this order's own earlier landing.
      if (codes[0] === 'ConditionalCheckFailed') return { status: 'created' };
      if (codes[1] === 'ConditionalCheckFailed') {
        const product = items[1] as { deal?: { status?: string; generation?: number }; deal_free?: number };
        const open = product?.deal?.status === 'open' && Number(product.deal.generation) === generation;
        return open
          ? { status: 'insufficient', free: Number(product.deal_free ?? 0) }
          : { status: 'deal-closed' };
      }
      if (codes[2] === 'ConditionalCheckFailed')
        return { status: 'limit', already: Number((items[2] as { units?: number })?.units ?? 0) };
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

  private productQuery(productId: number, status?: OrderStatus) {
    return {
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
  }

  /** A product's orders, optionally only those with one status (the index: eventually consistent). */
  async listByProduct(productId: number, status?: OrderStatus): Promise<OrderRecord[]> {
    const orders: OrderRecord[] = [];
    for await (const items of allPages(this.doc, this.productQuery(productId, status)))
      orders.push(...(items as unknown as OrderRecord[]));
    return orders;
  }

  /**
   * One page of a product's PENDING orders: at most `limit` index entries read (the filter applies
   * after the limit), so a page costs the same whatever the deal's size.
   */
  async pagePending(productId: number, cursor: string | null, limit: number): Promise<OrderPage> {
    const page = await this.doc.send(
      new QueryCommand({
        ...this.productQuery(productId, 'PENDING'),
        Limit: limit,
        ...(cursor && { ExclusiveStartKey: JSON.parse(cursor) as Record<string, unknown> }),
      }),
    );
    return {
      orders: (page.Items ?? []) as OrderRecord[],
      cursor: page.LastEvaluatedKey ? JSON.stringify(page.LastEvaluatedKey) : null,
    };
  }

  /**
   * PENDING → `to`, only if still PENDING (and with `expiredBy`, only if its time is up by then),
   * its units back to the deal's free units and out of the buyer's count, in one transaction. True
   * when this call made the change.
   */
  async settle(
    order: OrderRecord,
    to: 'CANCELLED' | 'EXPIRED',
    now: string,
    expiredBy?: string,
  ): Promise<boolean> {
    try {
      await transactWrite(this.doc, {
        ClientRequestToken: randomUUID(),
        TransactItems: [
          {
            Update: {
              TableName: this.tableName,
              Key: { id: order.id },
              UpdateExpression: 'SET #s = :to, updated_at = :now',
              ConditionExpression: `#s = :pending${expiredBy ? ' AND expires_at <= :by' : ''}`,
              ExpressionAttributeNames: { '#s': 'status' },
              ExpressionAttributeValues: {
                ':to': to,
                ':now': now,
                ':pending': 'PENDING',
                ...(expiredBy && { ':by': expiredBy }),
              },
            },
          },
          {
            Update: {
              TableName: tableNameOf(this.productsTable),
              Key: { id: order.product_id },
              UpdateExpression: 'ADD deal_free :q, deal_reserved :give',
              ConditionExpression: 'attribute_exists(id)',
              ExpressionAttributeValues: { ':q': order.quantity, ':give': -order.quantity },
            },
          },
          this.buyerCount(order, -order.quantity),
        ],
      });
      return true;
    } catch (error) {
      if (cancellationCodes(error)?.[0] === 'ConditionalCheckFailed') return false;
      throw error;
    }
  }

  /**
   * The payment callback's durable write, one transaction: the order PENDING → CONFIRMED (only while
   * unexpired by `now`, Redis's clock), the product's stock decrement (its units leave the reserved
   * ones), and a purchase row that the history and the audit count (same id as the order).
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
              UpdateExpression: 'SET stock = stock - :q, updated_at = :now ADD deal_reserved :give',
              ConditionExpression: 'attribute_exists(id) AND stock >= :q',
              ExpressionAttributeValues: { ':q': order.quantity, ':give': -order.quantity, ':now': now },
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
