/**
 * Table shapes: the one description of keys and indexes that the CDK stack deploys and the local
 * runtime (and the tests) create in DynamoDB Local. Plain data so both sides can read it.
 */
import type { TableName } from '../config.ts';

export type AttributeType = 'S' | 'N';

export interface KeyAttribute {
  readonly name: string;
  readonly type: AttributeType;
}

export interface IndexDefinition {
  readonly indexName: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
  /** Attributes projected besides the keys; ALL when omitted. */
  readonly nonKeyAttributes?: readonly string[];
}

export interface TableDefinition {
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
  readonly globalSecondaryIndexes: readonly IndexDefinition[];
}

export const PURCHASES_BY_USER_INDEX = 'byUser';
export const PURCHASES_BY_PRODUCT_INDEX = 'byProduct';
export const ORDERS_BY_USER_INDEX = 'byUser';
export const ORDERS_BY_PRODUCT_INDEX = 'byProduct';
export const AUDIT_BY_PRODUCT_INDEX = 'byProduct';
export const AUDIT_FEED_INDEX = 'byTime';

export const tableDefinitions: Record<TableName, TableDefinition> = {
  /**
   * Users: `pk` is `USER#<id>` for the user, `USERNAME#<name>` for the uniqueness guard (written in
   * the same transaction, conditional on not existing), and `SEQUENCE` for the id counter.
   */
  users: {
    partitionKey: { name: 'pk', type: 'S' },
    globalSecondaryIndexes: [],
  },
  /**
   * Products by integer id. Id 0 is the sequence row that hands out ids atomically. Products are
   * spread over partitions by id: a single-partition design would make every stock decrement of every
   * product land on one partition. A product with stock_shards K > 1 keeps its durable stock in K
   * shard items under negative ids, `-(product id × 100 + shard)` (shared/db/products.ts), so its
   * sales spread over K items and partitions.
   */
  products: {
    partitionKey: { name: 'id', type: 'N' },
    globalSecondaryIndexes: [],
  },
  /**
   * Purchases by id (ULID, or derived from the Idempotency-Key), and for purchases that take several
   * products, one line row per product (`<id>#<product id>`, no user_id: the history index skips it).
   */
  purchases: {
    partitionKey: { name: 'id', type: 'S' },
    globalSecondaryIndexes: [
      {
        indexName: PURCHASES_BY_USER_INDEX,
        partitionKey: { name: 'user_id', type: 'N' },
        sortKey: { name: 'purchased_at', type: 'S' },
      },
      {
        // The audit sums units taken per product. Every row that takes stock carries
        // stock_product_id/stock_quantity: a one-product purchase itself, or one line row per product
        // of a cart or bundle. Nothing else is indexed, so nothing is counted twice.
        indexName: PURCHASES_BY_PRODUCT_INDEX,
        partitionKey: { name: 'stock_product_id', type: 'N' },
        sortKey: { name: 'id', type: 'S' },
        nonKeyAttributes: ['stock_quantity'],
      },
    ],
  },
  /**
   * Hot-deal orders by id (ULID): PENDING from the 202 on, then CONFIRMED, CANCELLED or EXPIRED.
   * `byUser` lists a caller's orders; `byProduct` lets the reconciler and the deal's end find a
   * product's orders (rebuilding reservations after a Redis loss, expiring the open ones).
   */
  orders: {
    partitionKey: { name: 'id', type: 'S' },
    globalSecondaryIndexes: [
      {
        indexName: ORDERS_BY_USER_INDEX,
        partitionKey: { name: 'user_id', type: 'N' },
        sortKey: { name: 'created_at', type: 'S' },
      },
      {
        indexName: ORDERS_BY_PRODUCT_INDEX,
        partitionKey: { name: 'product_id', type: 'N' },
        sortKey: { name: 'id', type: 'S' },
      },
    ],
  },
  /**
   * The audit log, append-only: one row per change an admin or the reconciler makes (creation,
   * adjustments, restores and repairs, deal start and end, forced lock releases, product and role
   * changes), never one per sale. `id` is a ULID, so both indexes list newest first by id: `byProduct`
   * one product's history, `byTime` everything (one partition, `feed`: the log is written a few times
   * a minute, not per sale, so one partition carries it).
   */
  audit: {
    partitionKey: { name: 'id', type: 'S' },
    globalSecondaryIndexes: [
      {
        indexName: AUDIT_BY_PRODUCT_INDEX,
        partitionKey: { name: 'product_id', type: 'N' },
        sortKey: { name: 'id', type: 'S' },
      },
      {
        indexName: AUDIT_FEED_INDEX,
        partitionKey: { name: 'feed', type: 'S' },
        sortKey: { name: 'id', type: 'S' },
      },
    ],
  },
};

/**
 * A table a repository writes only in some of its calls (a purchase's product decrement, an
 * order's confirm transaction): its name is read when such a call runs, so a function whose route
 * does not declare that table can still use the repository's other calls.
 */
export type TableRef = string | (() => string);

export const tableNameOf = (ref: TableRef): string => (typeof ref === 'string' ? ref : ref());
