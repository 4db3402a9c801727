/**
 * The hot deals' Redis side, the adapter behind the LiveDeals port: wraps the Lua in scripts.ts and
 * turns its codes into typed results. The deal's keys are its own; it shares the product's live
 * stock key (and hash tag) with the stock capability, because a reservation takes the same units.
 */
import type { Cluster, Redis } from 'ioredis';
import { holdsKey, stockKey } from '../stock/redis-stock.ts';
import type {
  DealLaunch,
  DealRebuild,
  DealSettings,
  LiveDeals,
  OrderReserveResult,
  Reservation,
  ReservationReleaseResult,
  ReservationRestoreResult,
} from './ports.ts';

export const dealKey = (productId: number, ns = '') => `${ns}deal:{${productId}}`;
export const dealUsersKey = (productId: number, ns = '') => `${ns}dealusers:{${productId}}`;
/** Order id → "<quantity>:<user id>:<expires_at ms>:<generation>": units taken from `available`. */
export const reservationsKey = (productId: number, ns = '') => `${ns}reservations:{${productId}}`;

const RELEASE_CODES = { 1: 'released', 0: 'no-reservation', 2: 'stock-missing' } as const;
const RESTORE_CODES = { 1: 'restored', 0: 'present', [-2]: 'stock-missing' } as const;

export const reservationValue = (r: Omit<Reservation, 'orderId'>) =>
  `${r.quantity}:${r.userId}:${r.expiresAtMs}:${r.generation}`;

export class RedisDeals implements LiveDeals {
  constructor(
    private readonly redis: Redis | Cluster,
    /** The store's key namespace (shared/redis.ts `keyNamespace`); empty for none. */
    private readonly ns = '',
  ) {}

  async reserve(
    productId: number,
    quantity: number,
    orderId: string,
    userId: number,
  ): Promise<OrderReserveResult> {
    const k = this.keysOf(productId);
    const [code, a = 0, b = 0, c = 0, generation = 0, nowMs = 0, maxPerUser = 0] =
      await this.redis.orderReserve(k.stock, k.deal, k.reservations, k.users, quantity, orderId, userId);
    switch (code) {
      case 1:
        return { status: 'reserved', available: a, expiresAtMs: b, price: c, generation, nowMs, maxPerUser };
      case 0:
        return { status: 'insufficient', available: a };
      case -1:
        return { status: 'unknown' };
      case -3:
        return { status: 'not-active' };
      case -4:
        return { status: 'limit', already: a, limit: b };
      default:
        throw new Error(`orderReserve returned unknown code ${code}`);
    }
  }

  async release(productId: number, orderId: string): Promise<ReservationReleaseResult> {
    const k = this.keysOf(productId);
    const code = await this.redis.reservationRelease(k.stock, k.reservations, k.users, k.deal, orderId);
    const result = RELEASE_CODES[code as keyof typeof RELEASE_CODES];
    if (!result) throw new Error(`reservationRelease returned unknown code ${code}`);
    return result;
  }

  /** False when there was no reservation (already settled, or Redis lost it). */
  async commit(productId: number, orderId: string): Promise<boolean> {
    return (await this.redis.reservationCommit(reservationsKey(productId, this.ns), orderId)) === 1;
  }

  async reservations(productId: number): Promise<{ now: number; reservations: Reservation[] }> {
    const [now, flat] = await this.redis.reservationsRead(reservationsKey(productId, this.ns));
    const reservations: Reservation[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const [quantity, userId, expiresAtMs, generation] = String(flat[i + 1])
        .split(':')
        .map(Number);
      reservations.push({
        orderId: String(flat[i]),
        quantity: quantity ?? 0,
        userId: userId ?? 0,
        expiresAtMs: expiresAtMs ?? 0,
        generation: generation ?? 0,
      });
    }
    return { now: Number(now), reservations };
  }

  async reserved(productId: number): Promise<number> {
    const values = await this.redis.hvals(reservationsKey(productId, this.ns));
    return values.reduce((sum, v) => sum + (Number(v.split(':')[0]) || 0), 0);
  }

  inFlightKeys(productId: number): readonly string[] {
    return [reservationsKey(productId, this.ns)];
  }

  async settings(productId: number): Promise<(DealSettings & { open: boolean }) | null> {
    const [open, ends, cap, ttl, generation] = await this.redis.hmget(
      dealKey(productId, this.ns),
      'open',
      'ends_at_ms',
      'max_per_user',
      'reservation_ttl_ms',
      'generation',
    );
    if (open === null) return null;
    return {
      open: open === '1',
      endsAtMs: Number(ends),
      maxPerUser: Number(cap),
      reservationTtlMs: Number(ttl),
      generation: Number(generation ?? 0),
    };
  }

  async time(): Promise<number> {
    return Number(await this.redis.dealClock());
  }

  /** A product's deal keys by name; each script takes the ones it touches, in its own order. */
  private keysOf(productId: number) {
    return {
      stock: stockKey(productId, this.ns),
      holds: holdsKey(productId, this.ns),
      deal: dealKey(productId, this.ns),
      reservations: reservationsKey(productId, this.ns),
      users: dealUsersKey(productId, this.ns),
    };
  }

  /** The five keys of the scripts that start, finish or rebuild a deal. */
  private dealKeys(productId: number) {
    const k = this.keysOf(productId);
    return [k.stock, k.holds, k.deal, k.reservations, k.users] as const;
  }

  async start(productId: number, launch: DealLaunch): Promise<boolean> {
    const started = await this.redis.dealStart(
      ...this.dealKeys(productId),
      launch.generation,
      launch.free,
      launch.price,
      launch.strategy,
      launch.components,
      launch.endsAtMs,
      launch.maxPerUser,
      launch.reservationTtlMs,
      launch.shards,
    );
    return started === 1;
  }

  /** No new order gets in; reservations and the buyers' counts stay until settled. */
  async close(productId: number): Promise<void> {
    await this.redis.hset(dealKey(productId, this.ns), 'open', 0);
  }

  async finish(productId: number, durableStock: number, shardStock: readonly number[] = []): Promise<void> {
    await this.redis.dealFinish(...this.dealKeys(productId), durableStock, ...shardStock);
  }

  async cursor(productId: number, name: string): Promise<string | null> {
    return this.redis.hget(dealKey(productId, this.ns), `reconcile_${name}`);
  }

  async setCursor(productId: number, name: string, value: string | null): Promise<void> {
    const key = dealKey(productId, this.ns);
    // Only on a deal the store has: a cursor alone must not make a deal hash appear.
    if (value === null) await this.redis.hdel(key, `reconcile_${name}`);
    else if (await this.redis.exists(key)) await this.redis.hset(key, `reconcile_${name}`, value);
  }

  async repair(
    productId: number,
    observed: number,
    target: number,
    reservations: readonly string[],
  ): Promise<boolean> {
    const k = this.keysOf(productId);
    const code = await this.redis.dealRepair(
      k.stock,
      k.holds,
      k.reservations,
      String(observed),
      target,
      ...reservations,
    );
    return code === 1;
  }

  async restoreReservation(productId: number, reservation: Reservation): Promise<ReservationRestoreResult> {
    const k = this.keysOf(productId);
    const code = await this.redis.reservationRestore(
      k.stock,
      k.reservations,
      k.users,
      k.deal,
      reservation.orderId,
      reservationValue(reservation),
      reservation.userId,
      reservation.quantity,
      reservation.generation,
    );
    const result = RESTORE_CODES[code as keyof typeof RESTORE_CODES];
    if (!result) throw new Error(`reservationRestore returned unknown code ${code}`);
    return result;
  }

  async lowerTo(productId: number, free: number): Promise<number | null> {
    const available = await this.redis.dealLowerTo(stockKey(productId, this.ns), free);
    return available < 0 ? null : available;
  }

  /** Rebuild everything of a product Redis lost, unless its live stock is back. True when rebuilt. */
  async rebuild(productId: number, state: DealRebuild): Promise<boolean> {
    const args: (string | number)[] = [
      state.available,
      state.price,
      state.strategy,
      state.components,
      state.open ? 1 : 0,
      state.endsAtMs,
      state.maxPerUser,
      state.reservationTtlMs,
      state.generation,
      state.shards,
      state.reservations.length,
      ...state.reservations.flatMap((r) => [r.orderId, reservationValue(r)]),
      ...[...state.users].flat(),
    ];
    return (await this.redis.dealRestore(...this.dealKeys(productId), ...args)) === 1;
  }
}
