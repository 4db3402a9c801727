/**
 * Hot deals of a product: start (DynamoDB opens the deal, then Redis loads its free units, each step
 * resumable), end (closed in both stores, open orders expired, Redis = DynamoDB), and what the
 * reconciler needs of them (DealReconcilePort): the deal-aware restore (restore.ts), the settling of
 * reservations within a per-pass budget, and the units Redis should show.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ulid } from 'ulid';
import {
  type DealProduct,
  type DealState,
  type OrderRecord,
  type ProductRecord,
  shardsOf,
} from '../model.ts';
import { ProductNotFoundError } from '../stock/errors.ts';
import type { EventLog, LiveStockStore } from '../stock/ports.ts';
import type { DealReconcilePort } from '../stock/reconciler.ts';
import { DealAlreadyActiveError } from './errors.ts';
import type { OrderService } from './orders.ts';
import type { DealProductStore, LiveDeals, OrderStore, Reservation } from './ports.ts';
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

/** Orders one product's reconcile step reads at most per pass: a large deal cannot starve the others. */
export const DEFAULT_RECONCILE_BUDGET = 200;

export interface DealDeps {
  readonly deals: LiveDeals;
  readonly stock: Pick<LiveStockStore, 'peek'>;
  readonly products: DealProductStore;
  readonly orders: Pick<OrderStore, 'get' | 'listByProduct' | 'pagePending'>;
  readonly orderService: Pick<OrderService, 'expire'>;
  readonly restorer: DealRestore;
  readonly log: EventLog;
  /** A reservation with no order row is released only after this long (its request must be dead). */
  readonly holdStaleAfterMs: number;
  /** A deal's per-buyer cap when its start names none (HOTDEAL_DEFAULT_MAX_PER_USER; 0: no cap). */
  readonly defaultMaxPerUser?: number;
  /** Orders read per product per reconcile pass (DEFAULT_RECONCILE_BUDGET). */
  readonly reconcileBudget?: number;
  /** How often the end looks again for PENDING orders an index has not shown yet. */
  readonly endLookups?: number;
}

const ttlMs = (deal: DealState) => deal.reservation_ttl_seconds * 1000;
const iso = (ms: number) => new Date(ms).toISOString();

export class DealService implements DealReconcilePort {
  constructor(private readonly deps: DealDeps) {}

  private async product(productId: number): Promise<DealProduct> {
    const product = await this.deps.products.get(productId, true);
    if (!product) throw new ProductNotFoundError(productId);
    return product;
  }

  /**
   * 1. DynamoDB opens the next generation (conditional: one start wins; ordinary purchases are refused
   *    from here, orders gated by deal_free = the durable stock).
   * 2. Redis opens it in one script from that deal_free: a purchase between the reads cannot leave a
   *    stale stock, because none lands after step 1.
   * A sharded product's step 1 also moves every shard's units onto the product item (its pool), and
   * step 2 zeroes its shard counters: for the whole deal it is an unsharded product.
   * A start that died between the steps is finished by the next start (step 2 alone, once).
   */
  async start(productId: number, input: DealStart, actor = 'system'): Promise<DealView> {
    let product = await this.product(productId);
    const resuming = product.deal?.status === 'open';
    if (!resuming) {
      const previous = product.deal?.generation ?? 0;
      const deal: DealState = {
        status: 'open',
        ends_at: input.endsAt ?? null,
        max_per_user: input.maxPerUser ?? (this.deps.defaultMaxPerUser || null),
        reservation_ttl_seconds: input.reservationTtlSeconds ?? DEFAULT_RESERVATION_TTL_SECONDS,
        started_at: iso(await this.deps.deals.time()),
        ended_at: null,
        generation: previous + 1,
      };
      const opened = await this.deps.products.openDeal(productId, deal, previous, {
        id: ulid(),
        at: deal.started_at,
        actor,
        action: 'deal.start',
        product_id: productId,
        detail: { db_stock: product.stock, ends_at: deal.ends_at, max_per_user: deal.max_per_user },
      });
      if (opened.status === 'refused') {
        if (!opened.product) throw new ProductNotFoundError(productId);
        if (opened.product.deal?.status !== 'open') {
          this.deps.log.warn('hot deal not started: the last deal still has PENDING orders', {
            product_id: productId,
            reserved: opened.product.deal_reserved,
          });
          throw new DealAlreadyActiveError(productId);
        }
      }
      product = opened.product ?? product;
    }
    const deal = product.deal as DealState;
    const started = await this.deps.deals.start(productId, {
      generation: deal.generation ?? 0,
      free: product.deal_free ?? product.stock,
      shards: shardsOf(product),
      price: product.price,
      strategy: product.strategy,
      components: JSON.stringify(product.components ?? []),
      endsAtMs: deal.ends_at ? Date.parse(deal.ends_at) : 0,
      maxPerUser: deal.max_per_user ?? 0,
      reservationTtlMs: ttlMs(deal),
    });
    if (!started && resuming) throw new DealAlreadyActiveError(productId);
    this.deps.log.info(resuming ? 'hot deal start finished' : 'hot deal started', {
      product_id: productId,
      ...deal,
    });
    const after = await this.deps.stock.peek(productId);
    return { product_id: productId, deal, db_stock: product.stock, redis_stock: after?.available ?? null };
  }

  /**
   * 1. No new order gets in: Redis's gate first, then DynamoDB's (an order row still in flight is
   *    refused by its transaction from here: it can never land after the end).
   * 2. Every PENDING order expires now, found by Redis's reservations (ids, read by key) and by the
   *    index, looked up again while DynamoDB still counts reserved units the index has not shown.
   * 3. Nothing reserved any more: Redis = DynamoDB and the product is an ordinary one again.
   * Safe to run again: a rerun finishes what a crashed one left.
   */
  async end(productId: number, actor = 'system'): Promise<DealEndSummary> {
    const product = await this.product(productId);
    const generation = product.deal?.generation ?? 0;
    await this.deps.deals.close(productId);
    if (product.deal) {
      const at = iso(await this.deps.deals.time());
      await this.deps.products.closeDeal(productId, at, generation, {
        id: ulid(),
        at,
        actor,
        action: 'deal.end',
        product_id: productId,
        detail: { db_stock: product.stock },
      });
    }
    const { released, durable } = await this.expireAll(product);
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

  /** Expire every PENDING order of a closed deal and, once DynamoDB counts none reserved, finish. */
  private async expireAll(product: DealProduct): Promise<{ released: number; durable: DealProduct }> {
    const productId = product.id;
    const lookups = this.deps.endLookups ?? 5;
    let released = 0;
    let durable = product;
    for (let lookup = 0; lookup < lookups; lookup++) {
      const { reservations } = await this.deps.deals.reservations(productId);
      const indexed = await this.deps.orders.listByProduct(productId, 'PENDING');
      const ids = new Set([...reservations.map((r) => r.orderId), ...indexed.map((o) => o.id)]);
      for (const id of ids) {
        const order = await this.deps.orders.get(id);
        if (order?.status === 'PENDING' && (await this.deps.orderService.expire(order, true)).won)
          released += order.quantity;
      }
      durable = await this.product(productId);
      if ((durable.deal_reserved ?? 0) <= 0) break;
      // DynamoDB counts units of PENDING orders neither store has shown yet (the index lags): again.
      await sleep(100 * 2 ** lookup);
    }
    if ((durable.deal_reserved ?? 0) > 0) {
      this.deps.log.warn('deal end: PENDING orders not found yet; the reconciler finishes the end', {
        product_id: productId,
        reserved: durable.deal_reserved,
      });
    } else {
      // A sharded product's pool goes back to its shards first (DynamoDB), then Redis learns them.
      if (durable.pooled_stock !== undefined)
        durable =
          (await this.deps.products.returnPool(productId, iso(await this.deps.deals.time()))) ?? durable;
      await this.deps.deals.finish(productId, durable.stock, durable.shard_stock);
    }
    return { released, durable };
  }

  /** The one restore of a product the live store lost (DealRestore); true when this call put it back. */
  restore(product: ProductRecord): Promise<boolean> {
    return this.deps.restorer.restore(product);
  }

  /**
   * The units Redis's `available` should show when nothing is in flight: the deal's free units while
   * a deal is open, the durable stock outside one, nothing to say while a closed deal is not finished.
   */
  liveTarget(product: ProductRecord): number | null {
    const p = product as DealProduct;
    if (p.deal?.status === 'open') return p.deal_free ?? p.stock;
    if (p.deal && (p.deal_reserved ?? 0) > 0) return null;
    return p.stock;
  }

  /**
   * One product's reservations against its orders, within the per-pass budget of order reads, in a
   * rotating window kept between passes (expired reservations first): CONFIRMED → commit;
   * CANCELLED/EXPIRED → release; PENDING past expires_at → expire (and release); no order and stale
   * → release. Then a page of PENDING orders from the index without a reservation (Redis lost it):
   * past their time → expire; live → reservation put back. Last, with every reservation known to be
   * a durable PENDING order, available = DynamoDB's free units: after a failover that lost the last
   * writes, one pass leaves available + reserved = DynamoDB's stock (a deal larger than the budget
   * takes more passes; meanwhile Redis is below, never above). An order read costs a second read
   * when the last step has something to repair. A closed deal not finished (a crashed end) is
   * finished here. Counts what it settled, reservations put back included.
   */
  async settle(product: ProductRecord): Promise<number> {
    const productId = product.id;
    const deal = (product as DealProduct).deal;
    // Redis holds deal state only for a product DynamoDB opened a deal on: nothing to read otherwise.
    if (!deal) return 0;
    const settings = await this.deps.deals.settings(productId);
    // A closed deal not finished: Redis still has its state, DynamoDB still counts units reserved, or
    // a sharded product's pool has not gone back to its shards.
    const unfinished =
      settings || ((product as DealProduct).deal_reserved ?? 0) > 0 || product.pooled_stock !== undefined;
    if (deal.status === 'closed' && unfinished) {
      const before = (product as DealProduct).deal_reserved ?? 0;
      const { durable } = await this.expireAll(product as DealProduct);
      return before - (durable.deal_reserved ?? 0);
    }
    const budget = this.deps.reconcileBudget ?? DEFAULT_RECONCILE_BUDGET;
    const { now, reservations } = await this.deps.deals.reservations(productId);
    const after = await this.deps.deals.cursor(productId, 'reservations');
    const ordered = reservations.sort((a, b) => (a.orderId < b.orderId ? -1 : 1));
    const expired = ordered.filter((r) => r.expiresAtMs <= now);
    const rotation = [
      ...ordered.filter((r) => r.expiresAtMs > now && (after === null || r.orderId > after)),
      ...ordered.filter((r) => r.expiresAtMs > now && after !== null && r.orderId <= after),
    ];
    const checked = [...expired, ...rotation].slice(0, budget);
    let settled = 0;
    // The orders of the reservations left, each seen as a durable PENDING order: none is in flight.
    const pending: string[] = [];
    for (const r of checked) {
      const result = await this.settleReservation(productId, r, now, settings);
      if (result === 'settled') settled += 1;
      if (result === 'pending') pending.push(r.orderId);
    }
    const lastRotated = checked.filter((r) => r.expiresAtMs > now).at(-1);
    await this.deps.deals.setCursor(productId, 'reservations', lastRotated?.orderId ?? null);
    const allKnown = checked.length === ordered.length && pending.length === ordered.length - settled;

    // A page of PENDING orders per pass whose reservation Redis no longer has (a failover lost their
    // admission): past their time → expire; live → put the reservation back, so Redis counts their
    // units as reserved again and their cancel or expiry gives them back.
    {
      const cursor = await this.deps.deals.cursor(productId, 'pending');
      const page = await this.deps.orders.pagePending(productId, cursor, budget);
      const reserved = new Set(reservations.map((r) => r.orderId));
      for (const order of page.orders) {
        if (reserved.has(order.id)) continue;
        if (Date.parse(order.expires_at) <= now) {
          if ((await this.deps.orderService.expire(order)).won) settled += 1;
        } else if (await this.restoreReservation(productId, order, deal)) {
          settled += 1;
          pending.push(order.id);
        }
      }
      await this.deps.deals.setCursor(productId, 'pending', page.cursor);
    }
    // Every reservation was looked at and each left is a durable PENDING order: none is in flight, so
    // Redis's available can be set to DynamoDB's free units (a failover may have left it off).
    if (allKnown) await this.alignFree(productId, pending);
    return settled;
  }

  /**
   * Put back the reservation of a PENDING order (from the index) that Redis does not have. The index
   * may lag behind a cancel whose release already ran (a reservation put back then would give its
   * units back twice), so the order is read again, consistently, after Redis's reservations were: a
   * PENDING order then was settled by nobody before that read, and whoever settles it later finds
   * the reservation (its release gives the units back) or not (the next pass settles the reservation
   * put back). Either way the units come back once. True when this call put it back.
   */
  private async restoreReservation(
    productId: number,
    listed: OrderRecord,
    deal: DealState,
  ): Promise<boolean> {
    const order = await this.deps.orders.get(listed.id);
    if (order?.status !== 'PENDING' || (order.deal_generation ?? 0) !== (deal.generation ?? 0)) return false;
    const result = await this.deps.deals.restoreReservation(productId, {
      orderId: order.id,
      quantity: order.quantity,
      userId: order.user_id,
      expiresAtMs: Date.parse(order.expires_at),
      generation: order.deal_generation ?? 0,
    });
    if (result !== 'restored') return false;
    this.deps.log.warn('reconcile: reservation of a PENDING order put back (Redis had lost it)', {
      repair: 'restore-reservation',
      product_id: productId,
      order_id: order.id,
      quantity: order.quantity,
    });
    return true;
  }

  /**
   * Redis's available = DynamoDB's free units, if nothing moved meanwhile (compare-and-set on the
   * reservations, by id, and on available). `pending` are the orders of Redis's reservations, each
   * read as a durable PENDING order before the free units are read here; each is read again after:
   * still PENDING, so none was settled before that read with its release in Redis still to come
   * (which would add its units on top of free units that already have them). So Redis never ends
   * above DynamoDB; a PENDING order Redis has no reservation for leaves it below, never above.
   */
  private async alignFree(productId: number, pending: readonly string[]): Promise<void> {
    const observed = await this.deps.stock.peek(productId);
    const durable = await this.deps.products.get(productId, true);
    if (!observed || durable?.deal?.status !== 'open' || durable.deal_free === undefined) return;
    if (observed.available === durable.deal_free) return;
    for (const id of pending) if ((await this.deps.orders.get(id))?.status !== 'PENDING') return;
    if (await this.deps.deals.repair(productId, observed.available, durable.deal_free, pending)) {
      this.deps.log.warn('reconcile: deal stock set to the durable free units', {
        repair: 'set-deal-stock',
        product_id: productId,
        redis_stock: observed.available,
        deal_free: durable.deal_free,
      });
    }
  }

  /** 'settled' when this call settled it, 'pending' for a durable PENDING order still running. */
  private async settleReservation(
    productId: number,
    r: Reservation,
    now: number,
    settings: { reservationTtlMs: number } | null,
  ): Promise<'settled' | 'pending' | 'left'> {
    const order: OrderRecord | null = await this.deps.orders.get(r.orderId);
    const fields = { product_id: productId, order_id: r.orderId, quantity: r.quantity };
    if (!order) {
      const createdAt = r.expiresAtMs - (settings?.reservationTtlMs ?? 0);
      if (now - createdAt < this.deps.holdStaleAfterMs) return 'left';
      if ((await this.deps.deals.release(productId, r.orderId)) === 'no-reservation') return 'left';
      this.deps.log.warn('reconcile: reservation without order released', {
        repair: 'release-reservation',
        ...fields,
      });
      return 'settled';
    }
    if (order.status === 'CONFIRMED') {
      if (!(await this.deps.deals.commit(productId, r.orderId))) return 'left';
      this.deps.log.warn('reconcile: reservation of a confirmed order committed', {
        repair: 'commit-reservation',
        ...fields,
      });
      return 'settled';
    }
    if (order.status !== 'PENDING') {
      if ((await this.deps.deals.release(productId, r.orderId)) === 'no-reservation') return 'left';
      this.deps.log.warn('reconcile: reservation of a settled order released', {
        repair: 'release-reservation',
        ...fields,
      });
      return 'settled';
    }
    if (Date.parse(order.expires_at) <= now)
      return (await this.deps.orderService.expire(order)).won ? 'settled' : 'left';
    return 'pending';
  }
}
