/**
 * Product locks as an operator sees them: held or free, how long until the lock expires by itself,
 * who waits; and the forced release of a stuck lock, recorded in the audit log.
 */
import { ulid } from 'ulid';
import type { LockInspector } from '../lock/redis-lock.ts';
import { ProductNotFoundError } from '../stock/errors.ts';
import type { AuditLog, ProductLookup } from './ports.ts';

export interface LockView {
  readonly product_id: number;
  readonly held: boolean;
  readonly ttl_ms: number;
  readonly waiting: number;
}

export class LockAdminService {
  constructor(
    private readonly deps: {
      readonly products: ProductLookup;
      readonly locks: LockInspector;
      readonly audit: Pick<AuditLog, 'append'>;
      readonly now?: () => Date;
    },
  ) {}

  private async existing(productId: number): Promise<void> {
    if (!(await this.deps.products.get(productId))) throw new ProductNotFoundError(productId);
  }

  async inspect(productId: number): Promise<LockView> {
    await this.existing(productId);
    const state = await this.deps.locks.inspect(String(productId));
    return { product_id: productId, held: state.held, ttl_ms: state.ttlMs, waiting: state.waiting };
  }

  /** Free the product's lock whoever holds it; recorded whether or not one was held. */
  async forceRelease(productId: number, actor: string): Promise<void> {
    await this.existing(productId);
    const before = await this.deps.locks.inspect(String(productId));
    const released = await this.deps.locks.forceRelease(String(productId));
    await this.deps.audit.append({
      id: ulid(),
      at: (this.deps.now?.() ?? new Date()).toISOString(),
      actor,
      action: 'lock.force-release',
      product_id: productId,
      detail: { was_held: released, ttl_ms: before.ttlMs, waiting: before.waiting },
    });
  }
}
