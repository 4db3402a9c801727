/** Response shapes of the contract: what a client sees of the stored records. */
import type { AuditEntry, OrderRecord, PurchaseRecord, UserRecord } from '../model.ts';
import type { ProductWithLiveStock } from '../stock/products.ts';

export const userView = (u: UserRecord) => ({
  id: u.id,
  username: u.username,
  role: u.role,
  created_at: u.created_at,
});

export const productView = (p: ProductWithLiveStock) => ({
  id: p.id,
  name: p.name,
  description: p.description,
  price: p.price,
  stock: p.stock,
  redis_stock: p.redis_stock,
  strategy: p.strategy,
  stock_shards: p.stock_shards ?? 1,
  ...(p.components && { components: p.components }),
  max_per_user: p.max_per_user ?? null,
  created_at: p.created_at,
  updated_at: p.updated_at,
});

/**
 * A one-product purchase answers in the contract's shape (`product_id`, `quantity`); every purchase
 * also lists its `items`, so a cart or bundle shows whole.
 */
export const purchaseView = (p: PurchaseRecord) => ({
  id: p.id,
  ...(p.product_id !== undefined && { product_id: p.product_id, quantity: p.quantity }),
  items: p.items.map((i) => ({
    product_id: i.product_id,
    quantity: i.quantity,
    unit_price: i.unit_price,
    total_price: i.total_price,
  })),
  total_price: p.total_price,
  purchased_at: p.purchased_at,
});

export const orderView = (o: OrderRecord) => ({
  id: o.id,
  product_id: o.product_id,
  quantity: o.quantity,
  unit_price: o.unit_price,
  total_price: o.total_price,
  status: o.status,
  created_at: o.created_at,
  expires_at: o.expires_at,
  updated_at: o.updated_at,
});

/** What the audit log names as the author of a caller's change. */
export const actorOf = (caller: { readonly userId: number }) => `user:${caller.userId}`;

/** The admin's view of a purchase: the buyer's view plus who bought it. */
export const adminPurchaseView = (p: PurchaseRecord) => ({ ...purchaseView(p), user_id: p.user_id });

export const auditView = (e: AuditEntry) => ({
  id: e.id,
  at: e.at,
  actor: e.actor,
  action: e.action,
  product_id: e.product_id ?? null,
  ...(e.delta !== undefined && { delta: e.delta }),
  ...(e.reason !== undefined && { reason: e.reason }),
  ...(e.detail !== undefined && { detail: e.detail }),
});

/** The last reconciliation pass, in the contract's snake_case; null before the first. */
export const reconcileView = (
  pass: {
    at: string;
    duration_ms: number;
    products: number;
    restored: number;
    holdsCommitted: number;
    holdsReleased: number;
    reservationsSettled: number;
    repaired: number;
    failed: number;
    skipped?: boolean;
  } | null,
) =>
  pass && {
    at: pass.at,
    duration_ms: pass.duration_ms,
    products: pass.products,
    restored: pass.restored,
    holds_committed: pass.holdsCommitted,
    holds_released: pass.holdsReleased,
    reservations_settled: pass.reservationsSettled,
    repaired: pass.repaired,
    failed: pass.failed,
    skipped: pass.skipped ?? false,
  };
