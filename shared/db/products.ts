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
import type { AuditEntry, DealProduct, DealState, ProductRecord } from '../model.ts';
import type { DealProductStore, OpenDealOutcome } from '../orders/ports.ts';
import type { AdjustOutcome, ProductChanges, ProductStore, RemoveOutcome } from '../stock/ports.ts';
import { auditPut } from './audit.ts';
import { nextInSequence } from './counters.ts';
import { allPages } from './pagination.ts';
import type { TableRef } from './tables.ts';
import { cancellationCodes, cancelledItems, isConditionFailure, transactWrite } from './transactions.ts';

/** Id 0 is not a product: it is the row whose counter hands out product ids. */
const SEQUENCE_ID = 0;

export class ProductRepository implements ProductStore, DealProductStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly tableName: string,
    /** The audit log: every change this repository makes writes its row in the same transaction. */
    private readonly auditTable: TableRef = 'audit',
  ) {}

  /** The next product id from the sequence row. */
  nextId(): Promise<number> {
    return nextInSequence(this.doc, this.tableName, { id: SEQUENCE_ID });
  }

  /** The product and its audit row, together. */
  async create(product: ProductRecord, audit?: AuditEntry): Promise<void> {
    const put = { TableName: this.tableName, Item: product, ConditionExpression: 'attribute_not_exists(id)' };
    if (!audit) {
      await this.doc.send(new PutCommand(put));
      return;
    }
    await transactWrite(this.doc, {
      ClientRequestToken: audit.id,
      TransactItems: [{ Put: put }, auditPut(this.auditTable, audit)],
    });
  }

  /** Name, description or price, with the audit row; false when the product does not exist. */
  async update(id: number, changes: ProductChanges, audit: AuditEntry): Promise<boolean> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':now': audit.at };
    const sets = ['updated_at = :now'];
    for (const [field, value] of Object.entries(changes)) {
      if (value === undefined) continue;
      names[`#${field}`] = field;
      values[`:${field}`] = value;
      sets.push(`#${field} = :${field}`);
    }
    try {
      await transactWrite(this.doc, {
        ClientRequestToken: audit.id,
        TransactItems: [
          {
            Update: {
              TableName: this.tableName,
              Key: { id },
              UpdateExpression: `SET ${sets.join(', ')}`,
              ConditionExpression: 'attribute_exists(id)',
              ...(Object.keys(names).length > 0 && { ExpressionAttributeNames: names }),
              ExpressionAttributeValues: values,
            },
          },
          auditPut(this.auditTable, audit),
        ],
      });
      return true;
    } catch (error) {
      if (cancellationCodes(error)?.[0] === 'ConditionalCheckFailed') return false;
      throw error;
    }
  }

  /**
   * Delete the product with its audit row, unless a hot deal is open on it, and only while its
   * durable stock is still `stock` (what the audit row says was removed). Its purchases stay: they
   * are the history.
   */
  async remove(id: number, stock: number, audit: AuditEntry): Promise<RemoveOutcome> {
    if (id === SEQUENCE_ID) return 'not-found';
    try {
      await transactWrite(this.doc, {
        ClientRequestToken: audit.id,
        TransactItems: [
          {
            Delete: {
              TableName: this.tableName,
              Key: { id },
              ConditionExpression:
                'attribute_exists(id) AND stock = :stock AND (attribute_not_exists(deal) OR deal.#s <> :open)',
              ExpressionAttributeNames: { '#s': 'status' },
              ExpressionAttributeValues: { ':open': 'open', ':stock': stock },
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            },
          },
          auditPut(this.auditTable, audit),
        ],
      });
      return 'deleted';
    } catch (error) {
      if (cancellationCodes(error)?.[0] !== 'ConditionalCheckFailed') throw error;
      const current = cancelledItems(error)?.[0];
      if (!current) return 'not-found';
      return (current.deal as { status?: string } | undefined)?.status === 'open' ? 'deal-active' : 'changed';
    }
  }

  /**
   * Add `delta` units (negative: remove) to the durable stock and to its running Σ of adjustments,
   * with the audit row, in one transaction: initial_stock + adjusted = stock + sold stays true. Never
   * below zero. The audit row's id is the transaction's token, so a resend after a lost answer is
   * applied once at most.
   */
  async adjustStock(id: number, delta: number, audit: AuditEntry): Promise<AdjustOutcome> {
    try {
      await transactWrite(this.doc, {
        ClientRequestToken: audit.id,
        TransactItems: [
          {
            Update: {
              TableName: this.tableName,
              Key: { id },
              UpdateExpression:
                'SET stock = stock + :d, adjusted = if_not_exists(adjusted, :zero) + :d, updated_at = :now',
              // Not while a hot deal runs (or its end has not settled its orders): the deal's units
              // move only through its orders, gated by deal_free (shared/orders).
              ConditionExpression:
                'attribute_exists(id) AND stock >= :least AND (attribute_not_exists(deal) OR deal.#s <> :open) ' +
                'AND (attribute_not_exists(deal_reserved) OR deal_reserved <= :zero)',
              ExpressionAttributeNames: { '#s': 'status' },
              ExpressionAttributeValues: {
                ':d': delta,
                ':zero': 0,
                ':least': Math.max(0, -delta),
                ':now': audit.at,
                ':open': 'open',
              },
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            },
          },
          auditPut(this.auditTable, audit),
        ],
      });
      return { status: 'adjusted' };
    } catch (error) {
      const codes = cancellationCodes(error);
      if (codes?.[0] === 'ConditionalCheckFailed') {
        const current = cancelledItems(error)?.[0];
        if (!current || id === SEQUENCE_ID) return { status: 'not-found' };
        const deal = current.deal as { status?: string } | undefined;
        if (deal?.status === 'open' || Number(current.deal_reserved ?? 0) > 0)
          return { status: 'deal-active' };
        return { status: 'insufficient', stock: Number(current.stock) };
      }
      throw error;
    }
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

  /** Take back a product whose creation could not finish (its live stock was never written). */
  async delete(id: number, audit?: AuditEntry): Promise<void> {
    const del = { TableName: this.tableName, Key: { id } };
    if (!audit) {
      await this.doc.send(new DeleteCommand(del));
      return;
    }
    await transactWrite(this.doc, {
      ClientRequestToken: audit.id,
      TransactItems: [{ Delete: del }, auditPut(this.auditTable, audit)],
    });
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
  async openDeal(
    productId: number,
    deal: DealState,
    previousGeneration: number,
    audit?: AuditEntry,
  ): Promise<OpenDealOutcome> {
    const update = {
      TableName: this.tableName,
      Key: { id: productId },
      UpdateExpression:
        'SET deal = :deal, deal_free = stock - if_not_exists(deal_reserved, :zero), ' +
        'deal_reserved = if_not_exists(deal_reserved, :zero), updated_at = :now',
      ConditionExpression:
        'attribute_exists(id) AND (attribute_not_exists(deal) OR deal.#s <> :open) AND ' +
        '(attribute_not_exists(deal_reserved) OR deal_reserved <= :zero) AND ' +
        (previousGeneration > 0 ? 'deal.generation = :previous' : 'attribute_not_exists(deal.generation)'),
      ExpressionAttributeNames: { '#s': 'status' },
      ExpressionAttributeValues: {
        ':deal': deal,
        ':open': 'open',
        ':zero': 0,
        ':now': deal.started_at,
        ...(previousGeneration > 0 && { ':previous': previousGeneration }),
      },
    };
    if (audit) {
      // With its audit row, in one transaction; the outcome is then read back (consistently).
      try {
        await transactWrite(this.doc, {
          ClientRequestToken: audit.id,
          TransactItems: [{ Update: update }, auditPut(this.auditTable, audit)],
        });
        return { status: 'opened', product: (await this.get(productId, true)) as DealProduct };
      } catch (error) {
        if (cancellationCodes(error)?.[0] !== 'ConditionalCheckFailed') throw error;
        return { status: 'refused', product: (await this.get(productId, true)) as DealProduct | null };
      }
    }
    try {
      const { Attributes } = await this.doc.send(
        new UpdateCommand({
          ...update,
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

  /**
   * Close deal `generation`: no order of it lands any more. A no-op when it is closed already; the
   * audit row, when given, is written only by the call that closes it.
   */
  async closeDeal(productId: number, now: string, generation: number, audit?: AuditEntry): Promise<void> {
    const update = {
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
    };
    try {
      if (audit)
        await transactWrite(this.doc, {
          ClientRequestToken: audit.id,
          TransactItems: [{ Update: update }, auditPut(this.auditTable, audit)],
        });
      else await this.doc.send(new UpdateCommand(update));
    } catch (error) {
      if (audit ? cancellationCodes(error)?.[0] !== 'ConditionalCheckFailed' : !isConditionFailure(error))
        throw error;
    }
  }
}
