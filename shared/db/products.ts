/**
 * Products in DynamoDB: the durable stock that no purchase can take below zero, and the product's
 * hot deal (its `deal` attribute).
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
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
import { backoff } from '../retry.ts';
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

/**
 * A sharded product as read: its stock is the Σ of its shards plus the units a hot deal pooled on the
 * product item (`pooled_stock`, only during a deal), its fence the highest any shard saw.
 */
function withShards(
  item: Record<string, unknown>,
  shardItems: readonly Record<string, unknown>[],
): ProductRecord {
  const { stock: pooled, ...product } = item as unknown as ProductRecord;
  const shard_stock = Array.from({ length: shardsOf(product) }, () => 0);
  let fence = product.lock_fence;
  for (const shard of shardItems) {
    shard_stock[Number(shard.shard)] = Number(shard.stock);
    if (shard.lock_fence !== undefined) fence = Math.max(fence ?? 0, Number(shard.lock_fence));
  }
  return {
    ...product,
    stock: shard_stock.reduce((a, b) => a + b, 0) + Number(pooled ?? 0),
    shard_stock,
    ...(pooled !== undefined && { pooled_stock: Number(pooled) }),
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

/**
 * Reads and writes a sharded deal start may take while sales keep moving the shards (about 1.3 s of
 * backoff in all); then the start answers that the product is busy, and the admin tries again.
 */
const SHARDED_DEAL_OPEN_ATTEMPTS = 12;

/** A deal may open: none open, none reserved, and the generation the start read is still the last. */
const openable = (previousGeneration: number) =>
  'attribute_exists(id) AND (attribute_not_exists(deal) OR deal.#s <> :open) AND ' +
  '(attribute_not_exists(deal_reserved) OR deal_reserved <= :zero) AND ' +
  (previousGeneration > 0 ? 'deal.generation = :previous' : 'attribute_not_exists(deal.generation)');

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
    const { stock, shard_stock: _read, pooled_stock: _pooled, ...rest } = product;
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
    return (await this.layout(id))?.shards ?? null;
  }

  /**
   * A product item's shard count and, on a sharded product, the units a hot deal pooled on it (its
   * own `stock`, absent outside a deal: 0). One consistent read; null when it does not exist.
   */
  private async layout(id: number): Promise<{ shards: number; pooled: number | undefined } | null> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { id },
        ProjectionExpression: 'id, stock_shards, stock',
        ConsistentRead: true,
      }),
    );
    if (!Item) return null;
    return { shards: shardsOf(Item as ProductRecord), pooled: Item.stock as number | undefined };
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
    const layout = await this.layout(id);
    const shards = layout?.shards ?? 1;
    // A deal's end that has not returned its pooled units yet: the product item holds them.
    const pooled = shards > 1 ? layout?.pooled : undefined;
    // Sharded: every shard item goes too, each only while it still holds what was read.
    const shardDeletes: { Delete: Record<string, unknown> }[] = [];
    if (shards > 1) {
      const items = await this.shardItems(id, shards, true);
      if (items.reduce((sum, item) => sum + Number(item.stock), 0) + (pooled ?? 0) !== stock)
        return 'changed';
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
              ConditionExpression: `attribute_exists(id) AND ${shards > 1 && pooled === undefined ? 'attribute_not_exists(stock)' : 'stock = :stock'} AND (attribute_not_exists(deal) OR deal.#s <> :open)`,
              ExpressionAttributeNames: { '#s': 'status' },
              ExpressionAttributeValues: {
                ':open': 'open',
                ...((shards === 1 || pooled !== undefined) && { ':stock': shards === 1 ? stock : pooled }),
              },
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
    // The pool is decided by the condition, not by a read that a deal's start or end could overtake:
    // each attempt requires the state it writes for, and a refusal's item (ALL_OLD) names the pool to
    // try next. The pool changes only at a start or an end, so a second attempt is rare and a third
    // rarer still. A new attempt needs a new token (the first one's parameters differ); the audit
    // row's own condition (attribute_not_exists) still lets at most one attempt land.
    // A sharded product during a deal is an unsharded one: the deal pooled its units on the product
    // item (openDeal), so its 'deal' pool is the product item's; its 'stock' pool is its shard items.
    let pool: 'stock' | 'deal' = onDeal ? 'deal' : 'stock';
    for (let attempt = 0; ; attempt++) {
      const outcome =
        shards > 1 && pool === 'stock'
          ? await this.adjustShards(id, delta, audit, perShard ?? spreadOf(delta, shards), attempt)
          : await this.adjustPool(id, delta, audit, pool, attempt);
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
   * A sharded product's adjustment outside a deal: `adjusted` on the product item, each shard's units
   * on its item (never below zero), the audit row, in one transaction. While a deal holds the product
   * the product item refuses it and names the deal's pool instead.
   */
  private async adjustShards(
    id: number,
    delta: number,
    audit: AuditEntry,
    perShard: readonly ShardTake[],
    attempt: number,
  ): Promise<AdjustOutcome | { readonly status: 'other-pool'; readonly pool: 'deal' }> {
    const sign = delta < 0 ? -1 : 1;
    const takes = perShard.filter((t) => t.quantity > 0);
    try {
      await transactWrite(this.doc, {
        ClientRequestToken: attempt === 0 ? audit.id : `${audit.id}-${attempt}`,
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
        // A deal holds it: its units are pooled on the product item, where the change goes.
        return { status: 'other-pool', pool: 'deal' };
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
   * deal_free, which starts as the whole durable stock. A sharded product's shard items give all
   * their units to the product item in the same transaction (openShardedDeal).
   */
  async openDeal(
    productId: number,
    deal: DealState,
    previousGeneration: number,
    audit?: AuditEntry,
  ): Promise<OpenDealOutcome> {
    const shards = (await this.shardCount(productId)) ?? 1;
    if (shards > 1) return this.openShardedDeal(productId, shards, deal, previousGeneration, audit);
    const update = {
      TableName: this.tableName,
      Key: { id: productId },
      UpdateExpression:
        'SET deal = :deal, deal_free = stock - if_not_exists(deal_reserved, :zero), ' +
        'deal_reserved = if_not_exists(deal_reserved, :zero), updated_at = :now',
      // A sharded product opens through openShardedDeal: this write knows nothing of its shard items.
      ConditionExpression: `${openable(previousGeneration)} AND (attribute_not_exists(stock_shards) OR stock_shards <= :one)`,
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
   * A sharded product's deal opens by pooling: one transaction moves every shard item's stock onto
   * the product item (each shard only while it still holds what was read, set to 0; the product
   * item's stock = Σ, plus any units a crashed end had not returned yet) and opens the deal there
   * with deal_free = that Σ. For the whole deal the product is then an unsharded one: orders, confirms
   * and adjustments touch the product item alone, and a plain purchase's shard write fails on
   * `stock >= q` (Redis's deal gate refuses it first). A sale landing between the read and the write
   * fails a shard's condition: read again (a few times; then the product is busy).
   */
  private async openShardedDeal(
    productId: number,
    shards: number,
    deal: DealState,
    previousGeneration: number,
    audit?: AuditEntry,
  ): Promise<OpenDealOutcome> {
    for (let attempt = 0; attempt < SHARDED_DEAL_OPEN_ATTEMPTS; attempt++) {
      // A crowd buying the product moves its shards between this read and the write: give it a moment.
      if (attempt > 0) await sleep(backoff(attempt, 5, 200));
      const layout = await this.layout(productId);
      if (!layout) return { status: 'refused', product: null };
      const items = await this.shardItems(productId, shards, true);
      const units = items.map((item) => Number(item.stock));
      const total = units.reduce((a, b) => a + b, 0) + (layout.pooled ?? 0);
      try {
        await transactWrite(this.doc, {
          ...(audit && { ClientRequestToken: attempt === 0 ? audit.id : `${audit.id}-${attempt}` }),
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: { id: productId },
                UpdateExpression:
                  'SET deal = :deal, stock = :total, deal_free = :total, deal_reserved = :zero, updated_at = :now',
                // No deal units reserved at all (not merely none): deal_free is the whole pool.
                ConditionExpression: `${openable(previousGeneration)} AND (attribute_not_exists(deal_reserved) OR deal_reserved = :zero) AND ${layout.pooled === undefined ? 'attribute_not_exists(stock)' : 'stock = :pooled'}`,
                ExpressionAttributeNames: { '#s': 'status' },
                ExpressionAttributeValues: {
                  ':deal': deal,
                  ':open': 'open',
                  ':zero': 0,
                  ':total': total,
                  ':now': deal.started_at,
                  ...(previousGeneration > 0 && { ':previous': previousGeneration }),
                  ...(layout.pooled !== undefined && { ':pooled': layout.pooled }),
                },
              },
            },
            ...items.map((item) => ({
              Update: {
                TableName: this.tableName,
                Key: { id: item.id },
                UpdateExpression: 'SET stock = :zero, updated_at = :now',
                ConditionExpression: 'stock = :was',
                ExpressionAttributeValues: { ':zero': 0, ':was': item.stock, ':now': deal.started_at },
              },
            })),
            ...(audit ? [auditPut(this.auditTable, audit)] : []),
          ],
        });
        return { status: 'opened', product: (await this.get(productId, true)) as DealProduct };
      } catch (error) {
        const codes = cancellationCodes(error);
        if (!codes?.includes('ConditionalCheckFailed')) throw error;
        const current = (await this.get(productId, true)) as DealProduct | null;
        // The product item refused: a deal is open, another start won, or units are still reserved.
        if (codes[0] === 'ConditionalCheckFailed' && (current?.pooled_stock ?? 0) === (layout.pooled ?? 0))
          return { status: 'refused', product: current };
        // A shard (a sale, an adjustment) or the pool moved under the read: read again.
      }
    }
    return { status: 'refused', product: (await this.get(productId, true)) as DealProduct | null };
  }

  /**
   * The end of a sharded product's deal, once nothing is reserved: the units pooled on the product
   * item go back to the shard items (spread evenly, each ADDs its part) and the product item's stock
   * is removed, in one transaction, only while the pool still holds what was read and no deal holds
   * the product. Returns the product as read after; a no-op on an unsharded product or with no pool.
   * Safe to run again (a crashed end, the reconciler).
   */
  async returnPool(productId: number, at: string): Promise<DealProduct | null> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const layout = await this.layout(productId);
      if (!layout || layout.shards <= 1 || layout.pooled === undefined)
        return (await this.get(productId, true)) as DealProduct | null;
      const parts = splitAcrossShards(Math.max(0, layout.pooled), layout.shards);
      try {
        await transactWrite(this.doc, {
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: { id: productId },
                UpdateExpression: 'REMOVE stock SET updated_at = :now',
                ConditionExpression: `stock = :pooled AND ${NO_DEAL}`,
                ExpressionAttributeNames: { '#s': 'status' },
                ExpressionAttributeValues: {
                  ':pooled': layout.pooled,
                  ':zero': 0,
                  ':open': 'open',
                  ':now': at,
                },
              },
            },
            ...parts.flatMap((units, shard) =>
              units > 0
                ? [
                    {
                      Update: {
                        TableName: this.tableName,
                        Key: { id: shardItemId(productId, shard) },
                        UpdateExpression: 'SET stock = stock + :units, updated_at = :now',
                        ConditionExpression: 'attribute_exists(id)',
                        ExpressionAttributeValues: { ':units': units, ':now': at },
                      },
                    },
                  ]
                : [],
            ),
          ],
        });
        return (await this.get(productId, true)) as DealProduct | null;
      } catch (error) {
        if (!cancellationCodes(error)?.includes('ConditionalCheckFailed')) throw error;
        // Moved under the read (an adjustment: look again), or a deal holds it again (its pool now).
        const current = (await this.get(productId, true)) as DealProduct | null;
        if (current?.deal?.status === 'open' || (current?.deal_reserved ?? 0) > 0) return current;
      }
    }
    return (await this.get(productId, true)) as DealProduct | null;
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
