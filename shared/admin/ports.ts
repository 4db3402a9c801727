/**
 * The ports of the admin capability: what its use-cases need of the durable store (the users,
 * products, purchases and audit repositories in shared/db implement them) and of the locks
 * (RedisLock implements LockInspector). The use-cases import these interfaces, never an adapter.
 */
import type { AuditEntry, ProductRecord, PurchaseRecord, Role, UserRecord } from '../model.ts';

export interface Page<T> {
  readonly items: T[];
  /** Where the next page starts; null on the last page. */
  readonly nextCursor: string | null;
}

export interface RoleStore {
  getById(id: number): Promise<UserRecord | null>;
  /** The role as stored now (strongly consistent). */
  roleOf(id: number): Promise<Role | null>;
  /** False when the user does not exist. */
  setRole(id: number, role: Role, audit: AuditEntry): Promise<boolean>;
}

export interface PurchaseFilter {
  readonly productId?: number | undefined;
  readonly userId?: number | undefined;
  readonly limit: number;
  readonly cursor?: string | undefined;
}

export interface PurchaseListing {
  listPage(filter: PurchaseFilter): Promise<Page<PurchaseRecord>>;
}

export interface AuditQuery {
  readonly productId?: number | undefined;
  readonly limit: number;
  readonly cursor?: string | undefined;
}

export interface AuditLog {
  append(entry: AuditEntry): Promise<void>;
  list(query: AuditQuery): Promise<Page<AuditEntry>>;
}

export interface ProductLookup {
  get(id: number, consistent?: boolean): Promise<ProductRecord | null>;
}
