/**
 * Products in DynamoDB: the durable stock that no purchase can take below zero, and the product's
 * hot deal (its `deal` attribute).
 */
import { randomBytes } from 'node:crypto';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import {
  type AuditEntry,
  type DealProduct,
  type DealState,
  type ProductRecord,
  type ShardTake,
  shardsOf,
  splitAcrossShards,
} from '../model.ts';
import type { DealProductStore, OpenDealOutcome } from '../orders/ports.ts';
import type { AdjustOutcome, ProductChanges, ProductStore, RemoveOutcome } from '../stock/ports.ts';
import { auditPut } from './audit.ts';
import { nextInSequence } from './counters.ts';
import { allPages } from './pagination.ts';
import type { TableRef } from './tables.ts';
import { cancellationCodes, cancelledItems, isConditionFailure, transactWrite } from './transactions.ts';

/** Id 0 is not a product: it is the row whose counter hands out product ids. */
const SEQUENCE_ID = 0;

/**
 * A sharded product's stock shard lives in the products table under a negative id: shard 3 of
 * product 42 is `-4203`, so a console reader sees which product it belongs to, products (positive
 * ids) never collide with it, and the table keeps its one key (no new table, no key change for the
 * stack). Each shard item carries `stock` (its part of the durable stock), `price` and
 * `max_per_user` (the durable price and per-buyer cap a sale written to it is checked against); the
 * product item keeps the product and `adjusted`.
 */
export const SHARD_ID_FACTOR = 100;
export const shardItemId = (productId: number, shard: number) => -(productId * SHARD_ID_FACTOR + shard);
const shardKeys = (productId: number, shards: number) =>
  Array.from({ length: shards }, (_, shard) => ({ id: shardItemId(productId, shard) }));

/** A sharded product as read: its stock is the Σ of its shards, its fence the highest any shard saw. */
function withShards(
  item: Record<string, unknown>,
  shardItems: readonly Record<string, unknown>[],
): ProductRecord {
  const product = item as unknown as ProductRecord;
  const shard_stock = Array.from({ length: shardsOf(product) }, () => 0);
  let fence = product.lock_fence;
  for (const shard of shardItems) {
    shard_stock[Number(shard.shard)] = Number(shard.stock);
    if (shard.lock_fence !== undefined) fence = Math.max(fence ?? 0, Number(shard.lock_fence));
  }
  return {
    ...product,
    stock: shard_stock.reduce((a, b) => a + b, 0),
    shard_stock,
    ...(fence !== undefined && { lock_fence: fence }),
  };
}

/**
 * No hot deal holds the product: none open, no deal units still reserved. A change of the plain stock
 * requires it; an adjustment during a deal requires its negation and moves deal_free with the stock.
 */
const NO_DEAL =
  '(attribute_not_exists(deal) OR deal.#s <> :open) AND (attribute_not_exists(deal_reserved) OR deal_reserved <= :zero)';

/** A shard item's share of a product update: the price and the per-buyer cap a sale is checked against. */
function shardTermsUpdate(changes: ProductChanges): string {
  const sets = ['updated_at = :now'];
  if (changes.price !== undefined) sets.push('price = :price');
  if (typeof changes.max_per_user === 'number') sets.push('max_per_user = :cap');
  return `SET ${sets.join(', ')}${changes.max_per_user === null ? ' REMOVE max_per_user' : ''}`;
}

/** Added units per shard: the same even spread the product's creation used. */
const spreadOf = (delta: number, shards: number): ShardTake[] =>
  splitAcrossShards(Math.abs(delta), shards).map((quantity, shard) => ({ shard, quantity }));

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
    const shards = shardsOf(product);
    const { stock, shard_stock: _read, ...rest } = product;
    // Sharded: the stock lives in the shard items only, so no reader takes the product item's for it.
    const item = shards > 1 ? rest : { ...rest, stock };
    const put = { TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(id)' };
    if (!audit && shards === 1) {
      await this.doc.send(new PutCommand(put));
      return;
    }
    const shardPuts = (shards === 1 ? [] : splitAcrossShards(stock, shards)).map((units, shard) => ({
      Put: {
        TableName: this.tableName,
        Item: {
          id: shardItemId(product.id, shard),
          product_id: product.id,
          shard,
          stock: units,
          price: product.price,
          ...(product.max_per_user !== undefined && { max_per_user: product.max_per_user }),
          updated_at: product.updated_at,
        },
      },
    }));
    await transactWrite(this.doc, {
      ...(audit && { ClientRequestToken: audit.id }),
      TransactItems: [{ Put: put }, ...shardPuts, ...(audit ? [auditPut(this.auditTable, audit)] : [])],
    });
  }

  /** The stock shard count of a product, from its item (fixed at creation); null when it does not exist. */
  private async shardCount(id: number): Promise<number | null> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { id },
        ProjectionExpression: 'id, stock_shards',
        ConsistentRead: true,
      }),
    );
    return Item ? shardsOf(Item as ProductRecord) : null;
  }

  /** The shard items of a sharded product, by shard (consistent reads when asked). */
  private async shardItems(productId: number, shards: number, consistent: boolean) {
    const found: Record<string, unknown>[] = [];
    let keys: Record<string, unknown>[] | undefined = shardKeys(productId, shards);
    while (keys && keys.length > 0) {
      const reply: BatchGetCommandOutput = await this.doc.send(
        new BatchGetCommand({
          RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: consistent } },
        }),
      );
      found.push(...(reply.Responses?.[this.tableName] ?? []));
      keys = reply.UnprocessedKeys?.[this.tableName]?.Keys;
    }
    return found;
  }

  /**
   * Name, description, price or per-buyer cap, with the audit row; false when the product does not
   * exist. A cap of null removes the attribute: "no cap" is its absence, which a sale's condition
   * checks (`attribute_not_exists`), never a stored null.
   */
  async update(id: number, changes: ProductChanges, audit: AuditEntry): Promise<boolean> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':now': audit.at };
    const sets = ['updated_at = :now'];
    const removes: string[] = [];
    for (const [field, value] of Object.entries(changes)) {
      if (value === undefined) continue;
      names[`#${field}`] = field;
      if (field === 'max_per_user' && value === null) {
        removes.push(`#${field}`);
        continue;
      }
      values[`:${field}`] = value;
      sets.push(`#${field} = :${field}`);
    }
    // A sharded product's sales are checked against its shard items: a new price or cap goes on
    // each, together.
    const terms = changes.price !== undefined || changes.max_per_user !== undefined;
    const shards = terms ? ((await this.shardCount(id)) ?? 1) : 1;
    const shardTerms =
      shards > 1
        ? shardKeys(id, shards).map((Key) => ({
            Update: {
              TableName: this.tableName,
              Key,
              UpdateExpression: shardTermsUpdate(changes),
              ConditionExpression: 'attribute_exists(id)',
              ExpressionAttributeValues: {
                ':now': audit.at,
                ...(changes.price !== undefined && { ':price': changes.price }),
                ...(typeof changes.max_per_user === 'number' && { ':cap': changes.max_per_user }),
              },
            },
          }))
        : [];
    try {
      await transactWrite(this.doc, {
        ClientRequestToken: audit.id,
        TransactItems: [
          {
            Update: {
              TableName: this.tableName,
              Key: { id },
              UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
              ConditionExpression: 'attribute_exists(id)',
              ...(Object.keys(names).length > 0 && { ExpressionAttributeNames: names }),
              ExpressionAttributeValues: values,
            },
          },
          ...shardTerms,
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
    if (id <= SEQUENCE_ID) return 'not-found';
    const shards = (await this.shardCount(id)) ?? 1;
    // Sharded: every shard item goes too, each only while it still holds what was read.
    const shardDeletes: { Delete: Record<string, unknown> }[] = [];
    if (shards > 1) {
      const items = await this.shardItems(id, shards, true);
      if (items.reduce((sum, item) => sum + Number(item.stock), 0) !== stock) return 'changed';
      for (const item of items)
        shardDeletes.push({
          Delete: {
            TableName: this.tableName,
            Key: { id: item.id },
            ConditionExpression: 'stock = :stock',
            ExpressionAttributeValues: { ':stock': item.stock },
          },
        });
    }
    try {
      await transactWrite(this.doc, {
        ClientRequestToken: audit.id,
        TransactItems: [
          {
            Delete: {
              TableName: this.tableName,
              Key: { id },
              ConditionExpression: `attribute_exists(id) AND ${shards > 1 ? '' : 'stock = :stock AND '}(attribute_not_exists(deal) OR deal.#s <> :open)`,
              ExpressionAttributeNames: { '#s': 'status' },
              ExpressionAttributeValues: { ':open': 'open', ...(shards === 1 && { ':stock': stock }) },
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            },
          },
          ...(shardDeletes as never[]),
          auditPut(this.auditTable, audit),
        ],
      });
      return 'deleted';
    } catch (error) {
      const codes = cancellationCodes(error);
      if (codes?.slice(1, 1 + shardDeletes.length).includes('ConditionalCheckFailed')) return 'changed';
      if (codes?.[0] !== 'ConditionalCheckFailed') throw error;
      const current = cancelledItems(error)?.[0];
      if (!current) return 'not-found';
      return (current.deal as { status?: string } | undefined)?.status === 'open' ? 'deal-active' : 'changed';
    }
  }

  /**
   * Add `delta` units (negative: remove) to the durable stock and to its running Σ of adjustments,
   * with the audit row, in one transaction: initial_stock + adjusted = stock + sold stays true. Never
   * below zero. While a hot deal holds the product (open, or its end has not settled every order)
   * the units are the deal's: `deal_free` moves with the stock (so stock = deal_free + deal_reserved
   * stays true), and a removal takes only free units, never those of a PENDING order. The audit row's
   * id is the transaction's token, so a resend after a lost answer is applied once at most.
   */
  async adjustStock(
    id: number,
    delta: number,
    audit: AuditEntry,
    /** A sharded product's units per shard: where removed ones were held, or where added ones go. */
    perShard?: readonly ShardTake[],
    /** Whether a deal held the product at the caller's read: the pool tried first. */
    onDeal = false,
  ): Promise<AdjustOutcome> {
    const shards = id > SEQUENCE_ID ? ((await this.shardCount(id)) ?? 1) : 1;
    if (shards > 1) return this.adjustShards(id, delta, audit, perShard ?? spreadOf(delta, shards));
    // The pool is decided by the condition, not by a read that a deal's start or end could overtake:
    // each attempt requires the state it writes for, and a refusal's item (ALL_OLD) names the pool to
    // try next. The pool changes only at a start or an end, so a second attempt is rare and a third
    // rarer still. A new attempt needs a new token (the first one's parameters differ); the audit
    // row's own condition (attribute_not_exists) still lets at most one attempt land.
    let pool: 'stock' | 'deal' = onDeal ? 'deal' : 'stock';
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.adjustPool(id, delta, audit, pool, attempt);
      if (outcome.status !== 'other-pool') return outcome;
      if (attempt >= 3) return { status: 'busy' };
      pool = outcome.pool;
    }
  }

  /** One attempt of an adjustment, on the durable stock alone (`stock`) or on a deal's too (`deal`). */
  private async adjustPool(
    id: number,
    delta: number,
    audit: AuditEntry,
    pool: 'stock' | 'deal',
    attempt: number,
  ): Promise<AdjustOutcome | { readonly status: 'other-pool'; readonly pool: 'stock' | 'deal' }> {
    const onDeal = pool === 'deal';
    try {
      await transactWrite(this.doc, {
        ClientRequestToken: attempt === 0 ? audit.id : `${audit.id}-${attempt}`,
        TransactItems: [
          {
            Update: {
              TableName: this.tableName,
              Key: { id },
              UpdateExpression: `SET stock = stock + :d, adjusted = if_not_exists(adjusted, :zero) + :d, ${onDeal ? 'deal_free = deal_free + :d, ' : ''}updated_at = :now`,
              ConditionExpression: onDeal
                ? `attribute_exists(id) AND NOT (${NO_DEAL}) AND deal_free >= :least`
                : `attribute_exists(id) AND stock >= :least AND ${NO_DEAL}`,
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
        const dealHolds = deal?.status === 'open' || Number(current.deal_reserved ?? 0) > 0;
        if (dealHolds !== onDeal) return { status: 'other-pool', pool: dealHolds ? 'deal' : 'stock' };
        return { status: 'insufficient', stock: Number(onDeal ? current.deal_free : current.stock) };
      }
      throw error;
    }
  }

  /**
   * A sharded product's adjustment: `adjusted` on the product item, each shard's units on its item
   * (never below zero), the audit row, in one transaction.
   */
  private async adjustShards(
    id: number,
    delta: number,
    audit: AuditEntry,
    perShard: readonly ShardTake[],
  ): Promise<AdjustOutcome> {
    const sign = delta < 0 ? -1 : 1;
    const takes = perShard.filter((t) => t.quantity > 0);
    try {
      await transactWrite(this.doc, {
        ClientRequestToken: audit.id,
        TransactItems: [
          {
            Update: {
              TableName: this.tableName,
              Key: { id },
              UpdateExpression: 'SET adjusted = if_not_exists(adjusted, :zero) + :d, updated_at = :now',
              ConditionExpression: `attribute_exists(id) AND ${NO_DEAL}`,
              ExpressionAttributeNames: { '#s': 'status' },
              ExpressionAttributeValues: { ':d': delta, ':zero': 0, ':now': audit.at, ':open': 'open' },
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            },
          },
          ...takes.map((take) => ({
            Update: {
              TableName: this.tableName,
              Key: { id: shardItemId(id, take.shard) },
              UpdateExpression: 'SET stock = stock + :d, updated_at = :now',
              ConditionExpression: 'attribute_exists(id) AND stock >= :least',
              ExpressionAttributeValues: {
                ':d': sign * take.quantity,
                ':least': sign < 0 ? take.quantity : 0,
                ':now': audit.at,
              },
            },
          })),
          auditPut(this.auditTable, audit),
        ],
      });
      return { status: 'adjusted' };
    } catch (error) {
      const codes = cancellationCodes(error);
      if (!codes?.includes('ConditionalCheckFailed')) throw error;
      const current = cancelledItems(error)?.[0];
      if (codes[0] === 'ConditionalCheckFailed') {
        if (!current) return { status: 'not-found' };
        return { status: 'deal-active' };
      }
      return { status: 'insufficient', stock: (await this.get(id, true))?.stock ?? 0 };
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
    if (id <= SEQUENCE_ID) return null;
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { id }, ConsistentRead: consistent }),
    );
    if (!Item) return null;
    const shards = shardsOf(Item as ProductRecord);
    return shards > 1
      ? withShards(Item, await this.shardItems(id, shards, consistent))
      : (Item as ProductRecord);
  }

  /**
   * Every product, by id. A Scan: a flash-sale catalogue is small, and a single-partition index to
   * sort by would put every product's stock writes on one partition.
   */
  async listAll(consistent = false): Promise<ProductRecord[]> {
    const items: Record<string, unknown>[] = [];
    const shards = new Map<number, Record<string, unknown>[]>();
    const scan = {
      TableName: this.tableName,
      FilterExpression: 'id <> :sequence',
      ExpressionAttributeValues: { ':sequence': SEQUENCE_ID },
      ConsistentRead: consistent,
    };
    // The shard items come with the Scan: each is folded into its product, no read more.
    for await (const page of allPages(this.doc, scan))
      for (const item of page) {
        if (Number(item.id) > SEQUENCE_ID) items.push(item);
        else shards.set(Number(item.product_id), [...(shards.get(Number(item.product_id)) ?? []), item]);
      }
    return items
      .map((item) =>
        shardsOf(item as unknown as ProductRecord) > 1
          ? withShards(item, shards.get(Number(item.id)) ?? [])
          : (item as unknown as ProductRecord),
      )
      .sort((a, b) => a.id - b.id);
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
      // Never on a sharded product: deal_free gates orders on the product item alone (DealService
      // refuses first, with a clear answer; this keeps the rule where the data is).
      ConditionExpression:
        'attribute_exists(id) AND (attribute_not_exists(deal) OR deal.#s <> :open) AND ' +
        '(attribute_not_exists(deal_reserved) OR deal_reserved <= :zero) AND ' +
        '(attribute_not_exists(stock_shards) OR stock_shards <= :one) AND ' +
        (previousGeneration > 0 ? 'deal.generation = :previous' : 'attribute_not_exists(deal.generation)'),
      ExpressionAttributeNames: { '#s': 'status' },
      ExpressionAttributeValues: {
        ':deal': deal,
        ':open': 'open',
        ':zero': 0,
        ':one': 1,
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
