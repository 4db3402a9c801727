/** The small interfaces the stock use-cases need of the durable store, and of the log. */
import type { ProductRecord } from '../db/products.ts';
import type { PurchaseRecord, RecordOutcome } from '../db/purchases.ts';

export interface ProductStore {
  nextId(): Promise<number>;
  create(product: ProductRecord): Promise<void>;
  delete(id: number): Promise<void>;
  get(id: number, consistent?: boolean): Promise<ProductRecord | null>;
  listAll(consistent?: boolean): Promise<ProductRecord[]>;
}

export interface PurchaseStore {
  record(purchase: PurchaseRecord): Promise<RecordOutcome>;
  get(id: string): Promise<PurchaseRecord | null>;
  listByUser(userId: number, limit?: number): Promise<PurchaseRecord[]>;
  unitsSold(productId: number): Promise<number>;
}

/** Structured log lines (Powertools Logger satisfies it): the operator's counters until metrics land. */
export interface EventLog {
  info(message: string, fields: Record<string, unknown>): void;
  warn(message: string, fields: Record<string, unknown>): void;
  error(message: string, fields: Record<string, unknown>): void;
}
