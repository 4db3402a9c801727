/** Purchases in DynamoDB. A purchase and its stock decrement are one transaction. */
import { randomUUID } from 'node:crypto';
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Page, PurchaseFilter, PurchaseListing } from '../admin/ports.ts';
import {
  MAX_LINES_PER_PURCHASE,
  MAX_TRANSACTION_ITEMS,
  type PurchaseRecord,
  type ShardTake,
} from '../model.ts';
import type { PurchaseStore, RecordOutcome } from '../stock/ports.ts';
import { allPages, onePage } from './pagination.ts';
import { shardItemId } from './products.ts';
import { PURCHASES_BY_PRODUCT_INDEX, PURCHASES_BY_USER_INDEX, type TableRef, tableNameOf } from './tables.ts';
import { cancellationCodes, cancelledItems, transactWrite } from './transactions.ts';

/** A product row a plain purchase may take from: no deal open, no deal units still reserved. */
const NO_DEAL =
  '(attribute_not_exists(deal) OR deal.#ds <> :open) AND (attribute_not_exists(deal_reserved) OR deal_reserved <= :zero)';
const onDeal = (item: Record<string, unknown> | undefined) =>
  (item?.deal as { status?: string } | undefined)?.status === 'open' || Number(item?.deal_reserved ?? 0) > 0;

/**
 * A buyer's units of one capped product over their plain purchases, beside the purchases (never in
 * an index: it has neither user_id nor stock_product_id, and the admin's listing skips rows without
 * user_id). Its own item per (product, buyer), so the cap adds no hot item: only one buyer's own
 * concurrent purchases of the product meet on it.
 */
export const capCountId = (productId: number, userId: number) => `capcount#${productId}#${userId}`;

/** The durable per-buyer cap of a product or shard item as read back (absent: none). */
const capOf = (item: Record<string, unknown> | undefined): number | null =>
  item?.max_per_user === undefined || item.max_per_user === null ? null : Number(item.max_per_user);

export class PurchaseRepository implements PurchaseStore, PurchaseListing {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly tableName: string,
    private readonly productsTable: TableRef,
  ) {}

  /**
   * The durable write, one transaction: the purchase (only if its id is new) and every product's
   * decrement (only if that product's durable stock covers it), all or nothing. DynamoDB can never
   * go below zero, whatever Redis believes. Errors other than these answers are thrown as they are.
   */
  async record(
    purchase: PurchaseRecord,
    fences: ReadonlyMap<number, number> = new Map(),
    /** A sharded product's units per shard (the live store's holds): its shard items are decremented. */
    shards: ReadonlyMap<number, readonly ShardTake[]> = new Map(),
    /** A buyer's plain purchase: each capped product's cap as the sale saw it (absent: no cap checks). */
    caps?: ReadonlyMap<number, number>,
  ): Promise<RecordOutcome> {
    // One token per attempt: a resend after an unknown outcome gets this attempt's answer, and the
    // row says which attempt wrote it.
    const attempt = randomUUID();
    const { lines } = purchase;
    if (lines.length === 0 || lines.length > MAX_LINES_PER_PURCHASE) {
      throw new RangeError(`A purchase takes 1 to ${MAX_LINES_PER_PURCHASE} products, not ${lines.length}`);
    }
    // Rows that take stock carry stock_product_id/stock_quantity for the audit index: the purchase
    // itself when it takes one product, otherwise one line row per product.
    const single = lines.length === 1 ? lines[0] : undefined;
    const header = single
      ? { ...purchase, attempt, stock_product_id: single.product_id, stock_quantity: single.quantity }
      : { ...purchase, attempt };
    const lineRows = single
      ? []
      : lines.map((line) => ({
          Put: {
            TableName: this.tableName,
            Item: {
              id: `${purchase.id}#${line.product_id}`,
              purchase_id: purchase.id,
              stock_product_id: line.product_id,
              stock_quantity: line.quantity,
              purchased_at: purchase.purchased_at,
            },
          },
        }));
    // The price charged must be the durable price now: a product the buyer named is decremented
    // only at the unit price the purchase records (a stale live price is refused, never charged).
    const charged = new Map(purchase.items.map((item) => [item.product_id, item.unit_price]));
    // A locked product's write also carries its lock's fence: refused when the product has recorded a
    // higher one (a newer holder wrote after this holder's lock expired), and recorded when it goes in.
    // One decrement per product, or for a sharded product one per shard its hold took from (one shard
    // unless no single shard had the quantity): each item's own condition is the last word.
    const targets = lines.flatMap((line) => {
      const takes = shards.get(line.product_id);
      if (!takes) return [{ line, shard: undefined, quantity: line.quantity }];
      return takes.map((take) => ({
        line,
        shard: take.shard as number | undefined,
        quantity: take.quantity,
      }));
    });
    // With caps, every item the sale decrements also says which cap the sale was judged under (the
    // product and its shard items carry the durable one): a stale live cap is refused, never used.
    const decrements = targets.map(({ line, shard, quantity }) => {
      const price = charged.get(line.product_id);
      const fence = fences.get(line.product_id);
      const cap = caps?.get(line.product_id);
      const conditions = [
        'attribute_exists(id)',
        'stock >= :q',
        ...(price === undefined ? [] : ['price = :p']),
        ...(caps === undefined
          ? []
          : [cap === undefined ? 'attribute_not_exists(max_per_user)' : 'max_per_user = :cap']),
        ...(fence === undefined ? [] : ['(attribute_not_exists(lock_fence) OR lock_fence <= :f)']),
        // Not on a hot deal, nor on one whose end has not settled its orders: those units are the
        // deal's, sold only through its orders (shared/orders). A shard item never has a deal.
        ...(shard === undefined ? [NO_DEAL] : []),
      ];
      return {
        Update: {
          TableName: tableNameOf(this.productsTable),
          Key: { id: shard === undefined ? line.product_id : shardItemId(line.product_id, shard) },
          UpdateExpression: `SET stock = stock - :q, updated_at = :now${fence === undefined ? '' : ', lock_fence = :f'}`,
          ConditionExpression: conditions.join(' AND '),
          ...(shard === undefined && { ExpressionAttributeNames: { '#ds': 'status' } }),
          ExpressionAttributeValues: {
            ':q': quantity,
            ':now': purchase.purchased_at,
            ...(shard === undefined && { ':open': 'open', ':zero': 0 }),
            ...(price !== undefined && { ':p': price }),
            ...(fence !== undefined && { ':f': fence }),
            ...(cap !== undefined && { ':cap': cap }),
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
        },
      };
    });
    // The buyer's count of each capped product: up by the units, only while it stays within the cap.
    // A request for more than the cap alone has no room at all: `bought <= :room` is false for a
    // missing count too, so it is refused whatever was bought before.
    const counted = lines.flatMap((line) => {
      const cap = caps?.get(line.product_id);
      return cap === undefined ? [] : [{ line, cap }];
    });
    const counts = counted.map(({ line, cap }) => {
      const room = cap - line.quantity;
      return {
        Update: {
          TableName: this.tableName,
          Key: { id: capCountId(line.product_id, purchase.user_id) },
          UpdateExpression: 'ADD bought :q SET updated_at = :now',
          ConditionExpression:
            room >= 0 ? 'attribute_not_exists(bought) OR bought <= :room' : 'bought <= :room',
          ExpressionAttributeValues: { ':q': line.quantity, ':room': room, ':now': purchase.purchased_at },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
        },
      };
    });
    // DynamoDB takes at most 100 items in a transaction. The sale plan keeps products and counts within
    // it; only a sharded product's hold that fell back to many shards at the end of a sale can pass
    // it (a cart of several such lines). Said before anything is sent: the buyer can buy them apart.
    const items = 1 + lineRows.length + decrements.length + counts.length;
    if (items > MAX_TRANSACTION_ITEMS) {
      const spread = [...new Set(targets.filter((t) => t.shard !== undefined).map((t) => t.line.product_id))];
      return { status: 'too-spread', items, productIds: spread };
    }
    try {
      await transactWrite(this.doc, {
        ClientRequestToken: attempt,
        TransactItems: [
          {
            Put: {
              TableName: this.tableName,
              Item: header,
              ConditionExpression: 'attribute_not_exists(id)',
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
            },
          },
          ...lineRows,
          ...decrements,
          ...counts,
        ],
      });
      return { status: 'recorded' };
    } catch (error) {
      const codes = cancellationCodes(error);
      if (codes?.[0] === 'ConditionalCheckFailed') {
        // Our own first send landed and a resend found it: that is this purchase, recorded.
        const landed = cancelledItems(error)?.[0];
        return landed?.attempt === attempt ? { status: 'recorded' } : { status: 'duplicate' };
      }
      const failed = codes?.slice(1 + lineRows.length) ?? [];
      const current = cancelledItems(error)?.slice(1 + lineRows.length) ?? [];
      const countsFrom = targets.length;
      const refused = targets
        .map(({ line, shard, quantity }, i) => ({ line, shard, quantity, item: current[i], code: failed[i] }))
        .filter((r) => r.code === 'ConditionalCheckFailed');
      // A lost lock wins over everything else: this holder should not be writing at all.
      const fenced = refused.flatMap((r) => {
        const fence = fences.get(r.line.product_id);
        const stored = Number(r.item?.lock_fence ?? 0);
        return fence !== undefined && stored > fence ? [{ productId: r.line.product_id, fence, stored }] : [];
      });
      if (fenced.length > 0) return { status: 'fenced', fences: fenced };
      const dealt = refused.filter((r) => onDeal(r.item));
      if (dealt.length > 0) return { status: 'deal-active', productIds: dealt.map((r) => r.line.product_id) };
      // Short of stock wins over a price change: the buyer cannot have it at any price.
      const short = refused.filter((r) => !r.item || Number(r.item.stock) < r.quantity);
      if (short.length > 0) {
        return {
          status: 'insufficient',
          productIds: [...new Set(short.map((r) => r.line.product_id))],
          durable: short
            .filter((r) => r.item)
            .map((r) => ({
              productId: r.line.product_id,
              stock: Number(r.item?.stock),
              ...(r.shard !== undefined && { shard: r.shard }),
            })),
        };
      }
      const priceOff = (r: (typeof refused)[number]) => {
        const price = charged.get(r.line.product_id);
        return price !== undefined && Number(r.item?.price) !== price;
      };
      // Judged under a cap that is not the durable one: neither the buyer's count nor its refusal
      // means anything yet. The durable caps (and prices, if they moved too) go back to be set live.
      if (caps !== undefined) {
        const recapped = refused.filter((r) => capOf(r.item) !== (caps.get(r.line.product_id) ?? null));
        if (recapped.length > 0) {
          const changedCaps = new Map(recapped.map((r) => [r.line.product_id, capOf(r.item)]));
          const changedPrices = new Map(
            refused.filter(priceOff).map((r) => [r.line.product_id, Number(r.item?.price)]),
          );
          return {
            status: 'cap-changed',
            caps: [...changedCaps].map(([productId, cap]) => ({ productId, cap })),
            prices: [...changedPrices].map(([productId, price]) => ({ productId, price })),
          };
        }
      }
      // The buyer is at a cap: that refusal stands at any price, so it wins over a price change.
      const limits = counted
        .map(({ line, cap }, i) => ({
          line,
          cap,
          item: current[countsFrom + i],
          code: failed[countsFrom + i],
        }))
        .filter((c) => c.code === 'ConditionalCheckFailed')
        .map((c) => ({
          productId: c.line.product_id,
          limit: c.cap,
          already: Number(c.item?.bought ?? 0),
          requested: c.line.quantity,
        }));
      if (limits.length > 0) return { status: 'limit', limits };
      if (refused.length > 0) {
        const prices = new Map(refused.map((r) => [r.line.product_id, Number(r.item?.price)]));
        return {
          status: 'price-changed',
          prices: [...prices].map(([productId, price]) => ({ productId, price })),
        };
      }
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
    const query = {
      TableName: this.tableName,
      IndexName: PURCHASES_BY_PRODUCT_INDEX,
      KeyConditionExpression: 'stock_product_id = :p',
      ExpressionAttributeValues: { ':p': productId },
      ProjectionExpression: 'stock_quantity',
    };
    for await (const items of allPages(this.doc, query)) {
      for (const item of items) sold += Number(item.stock_quantity);
    }
    return sold;
  }

  /**
   * The admin's listing, one page at a time:
   * - by buyer (with or without a product): the buyer's purchases, newest first, from `byUser`;
   *   a product filter then keeps the purchases that took that product;
   * - by product: the rows that took its stock (`byProduct`, by purchase id), and their purchases;
   * - neither: every purchase, in the table's order.
   */
  async listPage(filter: PurchaseFilter): Promise<Page<PurchaseRecord>> {
    const { limit, cursor, productId, userId } = filter;
    if (userId !== undefined) {
      const page = await onePage(
        this.doc,
        {
          TableName: this.tableName,
          IndexName: PURCHASES_BY_USER_INDEX,
          KeyConditionExpression: 'user_id = :u',
          ExpressionAttributeValues: { ':u': userId },
          ScanIndexForward: false,
        },
        { limit, cursor, shape: { id: 'S', user_id: 'N', purchased_at: 'S' } },
      );
      const items = (page.items as unknown as PurchaseRecord[]).filter(
        (p) => productId === undefined || p.lines.some((line) => line.product_id === productId),
      );
      return { items, nextCursor: page.nextCursor };
    }
    if (productId !== undefined) {
      const page = await onePage(
        this.doc,
        {
          TableName: this.tableName,
          IndexName: PURCHASES_BY_PRODUCT_INDEX,
          KeyConditionExpression: 'stock_product_id = :p',
          ExpressionAttributeValues: { ':p': productId },
          ScanIndexForward: false,
        },
        { limit, cursor, shape: { id: 'S', stock_product_id: 'N' } },
      );
      // A cart's line row is `<purchase id>#<product id>`; a one-product purchase is its own row.
      const ids = page.items.map((row) => String(row.id).split('#')[0] as string);
      return { items: await this.getMany(ids), nextCursor: page.nextCursor };
    }
    const page = await onePage(
      this.doc,
      {
        TableName: this.tableName,
        // Purchases, not the line rows of carts (those have no buyer).
        FilterExpression: 'attribute_exists(user_id)',
      },
      { limit, cursor, shape: { id: 'S' } },
    );
    return { items: page.items as unknown as PurchaseRecord[], nextCursor: page.nextCursor };
  }

  /** Purchases by id, in the order asked (at most 100: one BatchGet). */
  private async getMany(ids: readonly string[]): Promise<PurchaseRecord[]> {
    if (ids.length === 0) return [];
    const found = new Map<string, PurchaseRecord>();
    let keys: Record<string, unknown>[] | undefined = [...new Set(ids)].map((id) => ({ id }));
    while (keys && keys.length > 0) {
      const reply: BatchGetCommandOutput = await this.doc.send(
        new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } }),
      );
      for (const item of reply.Responses?.[this.tableName] ?? [])
        found.set(String(item.id), item as PurchaseRecord);
      keys = reply.UnprocessedKeys?.[this.tableName]?.Keys;
    }
    return ids.flatMap((id) => found.get(id) ?? []);
  }
}
