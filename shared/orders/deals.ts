/**
 * Hot deals of a product: start (durable stock into Redis, deal open), end (closed, open orders
 * expired, Redis = DynamoDB), and what the reconciler needs of them (DealReconcilePort): the
 * deal-aware restore (restore.ts), the settling of reservations, and the units they keep in flight.
 */
import { ulid } from 'ulid';
import type { DealProduct, DealState, ProductRecord } from '../model.ts';
import { ProductNotFoundError } from '../stock/errors.ts';
import type { EventLog, LiveStockStore } from '../stock/ports.ts';
import type { DealReconcilePort } from '../stock/reconciler.ts';
import { DealAlreadyActiveError } from './errors.ts';
import type { OrderService } from './orders.ts';
import type { DealProductStore, LiveDeals, OrderStore } from './ports.ts';
import { type DealRestore, dealOrders } from './restore.ts';

export interface DealStart {
  readonly endsAt?: string | undefined;
  readonly maxPerUser?: number | undefined;
  readonly reservationTtlSeconds?: number | undefined;
}

export interface DealView {
  readonly product_id: number;
  readonly deal: DealState;
  readonly db_stock: number;
  readonly redis_stock: number | null;
}

export interface DealEndSummary {
  readonly product_id: number;
  /** Units of PENDING orders expired (and returned) by the end. */
  readonly released: number;
  /** Units confirmed in this deal. */
  readonly confirmed: number;
  readonly db_stock: number;
  readonly redis_stock: number | null;
}

export const DEFAULT_RESERVATION_TTL_SECONDS = 600;

export interface DealDeps {
  readonly deals: LiveDeals;
  readonly stock: Pick<LiveStockStore, 'peek' | 'repair'>;
  readonly products: DealProductStore;
  readonly orders: Pick<OrderStore, 'get' | 'listByProduct'>;
  readonly orderService: Pick<OrderService, 'expire'>;
  readonly restorer: DealRestore;
  readonly log: EventLog;
  /** A reservation with no order row is released only after this long (its request must be dead). */
  readonly holdStaleAfterMs: number;
  readonly now?: () => Date;
}

const ttlMs = (deal: DealState) => deal.reservation_ttl_seconds * 1000;

export class DealService implements DealReconcilePort {
  private readonly now: () => Date;

  constructor(private readonly deps: DealDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  private async product(productId: number): Promise<DealProduct> {
    const product = await this.deps.products.get(productId, true);
    if (!product) throw new ProductNotFoundError(productId);
    return product;
  }

  async start(productId: number, input: DealStart, actor = 'system'): Promise<DealView> {
    const product = await this.product(productId);
    const at = this.now().toISOString();
    const deal: DealState = {
      status: 'open',
      ends_at: input.endsAt ?? null,
      max_per_user: input.maxPerUser ?? null,
      reservation_ttl_seconds: input.reservationTtlSeconds ?? DEFAULT_RESERVATION_TTL_SECONDS,
      started_at: at,
      ended_at: null,
    };
    const audit = {
      id: ulid(),
      at,
      actor,
      action: 'deal.start' as const,
      product_id: productId,
      detail: { db_stock: product.stock, ends_at: deal.ends_at, max_per_user: deal.max_per_user },
    };
    if (!(await this.deps.products.openDeal(productId, deal, audit)))
      throw new DealAlreadyActiveError(productId);
    const opened: DealProduct = { ...product, deal };
    // Load the durable stock into Redis: restore if missing, otherwise align it (compare-and-set,
    // skipped while ordinary purchases or reservations are in flight).
    await this.restore(opened);
    const live = await this.deps.stock.peek(productId);
    if (live && live.available !== product.stock) {
      await this.deps.stock.repair(
        productId,
        live.available,
        product.stock,
        this.deps.deals.inFlightKeys(productId),
      );
    }
    await this.deps.deals.open(productId, {
      endsAtMs: deal.ends_at ? Date.parse(deal.ends_at) : 0,
      maxPerUser: deal.max_per_user ?? 0,
      reservationTtlMs: ttlMs(deal),
    });
    this.deps.log.info('hot deal started', { product_id: productId, ...deal });
    const after = await this.deps.stock.peek(productId);
    return { product_id: productId, deal, db_stock: product.stock, redis_stock: after?.available ?? null };
  }

  async end(productId: number, actor = 'system'): Promise<DealEndSummary> {
    const product = await this.product(productId);
    const at = this.now().toISOString();
    // 1. No new order gets in (Redis first: it is the gate), and the durable record says so.
    await this.deps.deals.close(productId);
    if (product.deal) {
      await this.deps.products.closeDeal(productId, at, {
        id: ulid(),
        at,
        actor,
        action: 'deal.end',
        product_id: productId,
        detail: { db_stock: product.stock },
      });
    }
    // 2. Every open order expires now; each winner returns its units.
    let released = 0;
    const orders = await dealOrders(this.deps.orders, product);
    for (const order of orders.filter((o) => o.status === 'PENDING')) {
      const { won } = await this.deps.orderService.expire(order, true);
      if (won) released += order.quantity;
    }
    // Reservations whose order row shows up only now (a create that reserved just before the close).
    const { reservations } = await this.deps.deals.reservations(productId);
    for (const r of reservations) {
      const order = await this.deps.orders.get(r.orderId);
      if (order?.status === 'PENDING' && (await this.deps.orderService.expire(order, true)).won)
        released += order.quantity;
    }
    // 3. Redis = DynamoDB, unless something is still in flight (the reconciler finishes it then).
    const live = await this.deps.stock.peek(productId);
    const durable = await this.product(productId);
    if (live && live.available !== durable.stock) {
      const repair = await this.deps.stock.repair(
        productId,
        live.available,
        durable.stock,
        this.deps.deals.inFlightKeys(productId),
      );
      if (repair !== 'repaired')
        this.deps.log.warn('deal end: repair deferred', { product_id: productId, repair });
    }
    const confirmed = (await dealOrders(this.deps.orders, durable))
      .filter((o) => o.status === 'CONFIRMED')
      .reduce((sum, o) => sum + o.quantity, 0);
    this.deps.log.info('hot deal ended', { product_id: productId, released, confirmed });
    return {
      product_id: productId,
      released,
      confirmed,
      db_stock: durable.stock,
      redis_stock: (await this.deps.stock.peek(productId))?.available ?? null,
    };
  }

  /** The one restore of a product the live store lost (DealRestore); true when this call put it back. */
  restore(product: ProductRecord): Promise<boolean> {
    return this.deps.restorer.restore(product);
  }

  /**
   * One product's reservations against its orders: CONFIRMED → commit; CANCELLED/EXPIRED → release;
   * PENDING past expires_at → expire (and release); no order and stale → release. Then PENDING
   * orders past their time whose reservation Redis no longer has are expired too. Returns how many
   * were settled.
   */
  async settle(product: ProductRecord): Promise<number> {
    const productId = product.id;
    const { now, reservations } = await this.deps.deals.reservations(productId);
    const settings = await this.deps.deals.settings(productId);
    let settled = 0;
    for (const r of reservations) {
      const order = await this.deps.orders.get(r.orderId);
      const fields = { product_id: productId, order_id: r.orderId, quantity: r.quantity };
      if (!order) {
        const createdAt = r.expiresAtMs - (settings?.reservationTtlMs ?? 0);
        if (now - createdAt < this.deps.holdStaleAfterMs) continue;
        if ((await this.deps.deals.release(productId, r.orderId)) !== 'no-reservation') {
          settled += 1;
          this.deps.log.warn('reconcile: reservation without order released', {
            repair: 'release-reservation',
            ...fields,
          });
        }
      } else if (order.status === 'CONFIRMED') {
        if (await this.deps.deals.commit(productId, r.orderId)) {
          settled += 1;
          this.deps.log.warn('reconcile: reservation of a confirmed order committed', {
            repair: 'commit-reservation',
            ...fields,
          });
        }
      } else if (order.status !== 'PENDING') {
        if ((await this.deps.deals.release(productId, r.orderId)) !== 'no-reservation') {
          settled += 1;
          this.deps.log.warn('reconcile: reservation of a settled order released', {
            repair: 'release-reservation',
            ...fields,
          });
        }
      } else if (Date.parse(order.expires_at) <= Date.now()) {
        if ((await this.deps.orderService.expire(order)).won) settled += 1;
      }
    }
    if ((product as DealProduct).deal) {
      const late = (await this.deps.orders.listByProduct(productId, 'PENDING')).filter(
        (o) => Date.parse(o.expires_at) <= Date.now() && !reservations.some((r) => r.orderId === o.id),
      );
      for (const order of late) if ((await this.deps.orderService.expire(order)).won) settled += 1;
    }
    return settled;
  }
}
