/**
 * Live stock in Redis, the adapter behind the LiveStockStore port: the fast gate in front of
 * DynamoDB. Wraps the Lua in scripts.ts and turns its integer codes into typed results.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Component, ShardTake, Shortage, StockLine } from '../model.ts';
import type {
  CreditResult,
  Hold,
  LiveStock,
  LiveStockStore,
  ReleaseResult,
  RepairResult,
  ReserveAllResult,
  ReserveResult,
  StockSeed,
} from './ports.ts';
import type { PassLog, PassRecord } from './reconciler.ts';

/**
 * `stock:{42}` and `holds:{42}` share the hash tag, so one script may touch both on Redis Cluster.
 * `ns` is the store's namespace (shared/redis.ts `keyNamespace`): two stores on one Redis never
 * read each other's keys, and the hash tag stays the product id.
 */
export const stockKey = (productId: number, ns = '') => `${ns}stock:{${productId}}`;
export const holdsKey = (productId: number, ns = '') => `${ns}holds:{${productId}}`;

const RESERVE_CODES = {
  1: 'reserved',
  0: 'insufficient',
  [-1]: 'unknown',
  [-2]: 'duplicate',
  [-3]: 'deal-active',
} as const;
const RELEASE_CODES = { 1: 'released', 0: 'no-hold', 2: 'stock-missing' } as const;
const CREDIT_CODES = { 1: 'credited', 0: 'no-mark', 2: 'stock-missing' } as const;
const REPAIR_CODES = { 1: 'repaired', 0: 'in-flight', [-1]: 'changed', [-2]: 'missing' } as const;

/** A hold's "<shard>.<units>[,...]" as shard takes; none for an unsharded product's ''. */
export function parseTakes(spec: string | undefined): ShardTake[] | undefined {
  if (!spec) return undefined;
  return spec.split(',').map((part) => {
    const [shard, quantity] = part.split('.').map(Number);
    return { shard: shard ?? 0, quantity: quantity ?? 0 };
  });
}

/** Shard takes as the scripts write them. */
export const formatTakes = (takes: readonly ShardTake[]): string =>
  takes
    .filter((t) => t.quantity > 0)
    .map((t) => `${t.shard}.${t.quantity}`)
    .join(',');

/** What a sale reads of a product's live hash, in this order. */
const LIVE_FIELDS = ['available', 'price', 'strategy', 'components', 'deal', 'cap'] as const;

function decode<T>(table: Record<number, T>, code: number, script: string): T {
  const value = table[code];
  if (value === undefined) throw new Error(`${script} returned unknown code ${code}`);
  return value;
}

export interface RedisStockOptions {
  /**
   * Whether one script may touch several products' keys: true on a standalone or primary/replica
   * Redis (one node holds every key); false on Redis Cluster / ElastiCache Serverless, where keys of
   * different products live in different slots and carts take per-product holds with compensation.
   */
  readonly multiKeyScripts?: boolean;
  /** The store's key namespace (shared/redis.ts `keyNamespace`); empty for none. */
  readonly namespace?: string;
}

export class RedisStock implements LiveStockStore {
  private readonly multiKeyScripts: boolean;
  private readonly ns: string;
  private readonly connections: readonly (Redis | Cluster)[];
  private turn = 0;

  /**
   * `redis`: one client, or several connections to the same Redis. A process serving many callers
   * at once (the in-process runtime, the benchmark) ping-pongs on one auto-pipelined connection:
   * Redis runs a batch while Node waits, then Node handles the replies while Redis waits, each about
   * half busy (docs/performance.md). With two connections taking turns, one batch runs in Redis while
   * the other's replies are handled. Every operation is one command or one pipeline on one
   * connection, and an operation starts after the one before it answered, so order is kept.
   */
  constructor(redis: Redis | Cluster | readonly (Redis | Cluster)[], options: RedisStockOptions = {}) {
    this.connections = Array.isArray(redis) ? redis : [redis as Redis | Cluster];
    const first = this.connections[0];
    if (!first) throw new Error('RedisStock needs a Redis client');
    this.multiKeyScripts = options.multiKeyScripts ?? !first.isCluster;
    this.ns = options.namespace ?? '';
  }

  /** The connection for the next command: the only one, or the next in turn. */
  private get redis(): Redis | Cluster {
    const { connections } = this;
    if (connections.length === 1) return connections[0] as Redis | Cluster;
    this.turn = (this.turn + 1) % connections.length;
    return connections[this.turn] as Redis | Cluster;
  }

  private stockKeyOf(productId: number): string {
    return stockKey(productId, this.ns);
  }

  private holdsKeyOf(productId: number): string {
    return holdsKey(productId, this.ns);
  }

  /** One key per purchase id, in its own slot: single-key commands only. */
  private claimKeyOf(purchaseId: string): string {
    return `${this.ns}purchase:{${purchaseId}}`;
  }

  /**
   * Put a new product on sale: its live stock, price, strategy and components are written whatever
   * the store held for that id, and any hold under that id is dropped. A leftover key (another
   * store's, or tables recreated while Redis kept its keys) is never trusted.
   */
  async put(seed: StockSeed): Promise<void> {
    const components = JSON.stringify(seed.components ?? []);
    await this.redis.stockPut(
      this.stockKeyOf(seed.id),
      this.holdsKeyOf(seed.id),
      seed.stock,
      seed.price,
      seed.strategy,
      components,
      seed.max_per_user ?? 0,
      ...(seed.shard_stock ?? []),
    );
  }

  /** Set a product's live stock if Redis does not have it. Returns false when it was already there. */
  async load(seed: StockSeed): Promise<boolean> {
    const components = JSON.stringify(seed.components ?? []);
    return (
      (await this.redis.stockLoad(
        this.stockKeyOf(seed.id),
        this.holdsKeyOf(seed.id),
        seed.stock,
        seed.price,
        seed.strategy,
        components,
        seed.max_per_user ?? 0,
        ...(seed.shard_stock ?? []),
      )) === 1
    );
  }

  /** One product's live stock; a sharded product's with its per-shard counters (one read more). */
  async peek(productId: number): Promise<LiveStock | null> {
    const live = (await this.peekMany([productId])).get(productId) ?? null;
    if (!live) return null;
    const shards = Number(await this.redis.hget(this.stockKeyOf(productId), 'shards'));
    if (!(shards > 1)) return live;
    const fields = Array.from({ length: shards }, (_, i) => `s${i}`);
    const counts = await this.redis.hmget(this.stockKeyOf(productId), ...fields);
    return { ...live, shards: counts.map((c) => Number(c ?? 0)) };
  }

  /**
   * One read command per product, sent together: one pipeline on a single Redis; on a cluster,
   * concurrent commands (auto-pipelined per node), since a pipeline there must stay on one node.
   * One product (every single-product purchase) is one plain command: a pipeline object per request
   * cost more CPU than the read, and the client's auto-pipelining still batches concurrent requests.
   */
  private async readEach<T>(
    productIds: readonly number[],
    read: (client: Redis | Cluster, key: string) => Promise<T>,
    queue: (pipeline: ReturnType<Redis['pipeline']>, key: string) => void,
  ): Promise<T[]> {
    if (productIds.length === 1) return [await read(this.redis, this.stockKeyOf(productIds[0] as number))];
    if (this.redis.isCluster)
      return Promise.all(productIds.map((id) => read(this.redis, this.stockKeyOf(id))));
    const pipeline = this.redis.pipeline();
    for (const id of productIds) queue(pipeline, this.stockKeyOf(id));
    const replies = (await pipeline.exec()) ?? [];
    return productIds.map((_, i) => {
      const [error, value] = replies[i] ?? [null, null];
      if (error) throw error;
      return value as T;
    });
  }

  /** Live stock of several products in one round trip; missing where Redis has none. */
  async peekMany(productIds: readonly number[]): Promise<Map<number, LiveStock>> {
    const replies = await this.readEach(
      productIds,
      (client, key) => client.hmget(key, ...LIVE_FIELDS),
      (pipeline, key) => pipeline.hmget(key, ...LIVE_FIELDS),
    );
    const live = new Map<number, LiveStock>();
    productIds.forEach((id, i) => {
      const [available, price, strategy, components, deal, cap] = (replies[i] ?? []) as (string | null)[];
      if (available === null || available === undefined) return;
      live.set(id, {
        available: Number(available),
        price: Number(price),
        strategy: strategy === 'atomic' ? 'atomic' : 'lock',
        components: components ? (JSON.parse(components) as Component[]) : [],
        ...(deal !== null && deal !== undefined && { onDeal: true }),
        ...(Number(cap) > 0 && { maxPerUser: Number(cap) }),
      });
    });
    return live;
  }

  /** Available units of many products in one round trip; null where Redis has none. */
  async availableOf(productIds: readonly number[]): Promise<Map<number, number | null>> {
    if (productIds.length === 0) return new Map();
    const replies = await this.readEach(
      productIds,
      (client, key) => client.hget(key, 'available'),
      (pipeline, key) => pipeline.hget(key, 'available'),
    );
    return new Map(
      productIds.map((id, i) => {
        const value = replies[i] ?? null;
        return [id, value === null ? null : Number(value)];
      }),
    );
  }

  async reserve(productId: number, quantity: number, holdId: string): Promise<ReserveResult> {
    return this.take(productId, quantity, holdId, false);
  }

  /** An adjustment's removal: a hold on whatever the product sells from, a hot deal's pool included. */
  async withdraw(productId: number, quantity: number, holdId: string): Promise<ReserveResult> {
    return this.take(productId, quantity, holdId, true);
  }

  private async take(
    productId: number,
    quantity: number,
    holdId: string,
    anyPool: boolean,
  ): Promise<ReserveResult> {
    const keys = [this.stockKeyOf(productId), this.holdsKeyOf(productId)] as const;
    const [code, available, spec] = anyPool
      ? await this.redis.stockReserve(...keys, quantity, holdId, '1')
      : await this.redis.stockReserve(...keys, quantity, holdId);
    const status = decode(RESERVE_CODES, code, 'stockReserve');
    if (status === 'unknown' || status === 'deal-active') return { status };
    const takes = parseTakes(spec);
    return status === 'reserved' && takes ? { status, available, takes } : { status, available };
  }

  /**
   * All lines of a purchase or none, under one hold id. One script when every key is on one node;
   * otherwise per product in ascending id, releasing the taken holds when a later line falls short.
   */
  async reserveAll(lines: readonly StockLine[], holdId: string): Promise<ReserveAllResult> {
    if (lines.length === 1 || !this.multiKeyScripts) return this.reserveInOrder(lines, holdId);
    const keys = lines.flatMap((l) => [this.stockKeyOf(l.productId), this.holdsKeyOf(l.productId)]);
    const reply = await this.redis.stockReserveMany(
      keys.length,
      ...keys,
      holdId,
      ...lines.map((l) => l.quantity),
    );
    const [code = Number.NaN, ...replies] = reply;
    const line = (index: number | undefined) => lines[(index ?? 0) - 1] as StockLine;
    if (code === 1)
      return reservedWith(lines.map((l, i) => [l.productId, parseTakes(String(replies[i] ?? ''))]));
    const rest = replies.map(Number);
    if (code === -1) return { status: 'unknown', productId: line(rest[0]).productId };
    if (code === -2) return { status: 'duplicate', productId: line(rest[0]).productId };
    if (code === -3) return { status: 'deal-active', productId: line(rest[0]).productId };
    if (code !== 0) throw new Error(`stockReserveMany returned unknown code ${code}`);
    const shortages: Shortage[] = [];
    for (let k = 0; k + 1 < rest.length; k += 2) {
      const { productId, quantity } = line(rest[k]);
      shortages.push({ productId, requested: quantity, available: rest[k + 1] ?? 0 });
    }
    return { status: 'insufficient', shortages };
  }

  private async reserveInOrder(lines: readonly StockLine[], holdId: string): Promise<ReserveAllResult> {
    const taken: StockLine[] = [];
    const takes: [number, ShardTake[] | undefined][] = [];
    for (const line of [...lines].sort((a, b) => a.productId - b.productId)) {
      const result = await this.reserve(line.productId, line.quantity, holdId);
      if (result.status === 'reserved') {
        taken.push(line);
        takes.push([line.productId, result.takes ? [...result.takes] : undefined]);
        continue;
      }
      await this.releaseAll(taken, holdId);
      if (result.status === 'insufficient') {
        return {
          status: 'insufficient',
          shortages: [{ productId: line.productId, requested: line.quantity, available: result.available }],
        };
      }
      return { status: result.status, productId: line.productId };
    }
    return reservedWith(takes);
  }

  async commitAll(lines: readonly StockLine[], holdId: string): Promise<void> {
    await Promise.all(lines.map((l) => this.commit(l.productId, holdId)));
  }

  async releaseAll(lines: readonly StockLine[], holdId: string): Promise<void> {
    await Promise.all(lines.map((l) => this.release(l.productId, holdId)));
  }

  async claimPurchase(purchaseId: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.claimKeyOf(purchaseId), '1', 'PX', ttlMs, 'NX')) === 'OK';
  }

  async releasePurchaseClaim(purchaseId: string): Promise<void> {
    await this.redis.del(this.claimKeyOf(purchaseId));
  }

  async lowerTo(
    productId: number,
    durable: number,
    inFlightKeys: readonly string[] = [],
    shard?: number,
  ): Promise<number | null> {
    const keys = [this.stockKeyOf(productId), this.holdsKeyOf(productId), ...inFlightKeys];
    const args = shard === undefined ? [durable] : [durable, shard];
    const available = await this.redis.stockLowerTo(keys.length, ...keys, ...args);
    return available < 0 ? null : available;
  }

  async setPrice(productId: number, price: number): Promise<void> {
    await this.redis.stockSetPrice(this.stockKeyOf(productId), price);
  }

  async setCap(productId: number, cap: number | null): Promise<void> {
    await this.redis.stockSetCap(this.stockKeyOf(productId), cap ?? 0);
  }

  /** The units are sold for good: drop the hold. False when there was none (already settled). */
  async commit(productId: number, holdId: string): Promise<boolean> {
    return (await this.redis.hdel(this.holdsKeyOf(productId), holdId)) === 1;
  }

  async release(productId: number, holdId: string): Promise<ReleaseResult> {
    return decode(
      RELEASE_CODES,
      await this.redis.stockRelease(this.stockKeyOf(productId), this.holdsKeyOf(productId), holdId),
      'stockRelease',
    );
  }

  async mark(productId: number, holdId: string): Promise<boolean> {
    return (await this.redis.stockMark(this.stockKeyOf(productId), this.holdsKeyOf(productId), holdId)) === 1;
  }

  async credit(
    productId: number,
    holdId: string,
    delta: number,
    perShard?: readonly ShardTake[],
  ): Promise<CreditResult> {
    const keys = [this.stockKeyOf(productId), this.holdsKeyOf(productId)] as const;
    const code = perShard
      ? await this.redis.stockCredit(...keys, holdId, delta, formatTakes(perShard))
      : await this.redis.stockCredit(...keys, holdId, delta);
    return decode(CREDIT_CODES, code, 'stockCredit');
  }

  async drop(productId: number): Promise<void> {
    await this.redis.stockDrop(this.stockKeyOf(productId), this.holdsKeyOf(productId));
  }

  async holds(productId: number): Promise<Hold[]> {
    const [now, flat] = await this.redis.stockHolds(this.holdsKeyOf(productId));
    const holds: Hold[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const [quantity, heldAt, spec] = String(flat[i + 1]).split(':');
      const at = heldAt === undefined ? now : Number(heldAt);
      const takes = parseTakes(spec);
      holds.push({
        holdId: String(flat[i]),
        quantity: Number(quantity ?? 0),
        heldAt: at,
        ageMs: now - at,
        ...(takes && { takes }),
      });
    }
    return holds;
  }

  async repair(
    productId: number,
    observed: number,
    target: number,
    inFlightKeys: readonly string[] = [],
    shardTargets: readonly number[] = [],
  ): Promise<RepairResult> {
    const keys = [this.stockKeyOf(productId), this.holdsKeyOf(productId), ...inFlightKeys];
    const code = await this.redis.stockRepair(
      keys.length,
      ...keys,
      String(observed),
      target,
      ...shardTargets,
    );
    return decode(REPAIR_CODES, code, 'stockRepair');
  }
}

/** A reservation's answer, with the shard takes of its sharded products (none: nothing to say). */
function reservedWith(takes: readonly (readonly [number, ShardTake[] | undefined])[]): ReserveAllResult {
  const sharded = takes.filter((t): t is [number, ShardTake[]] => t[1] !== undefined);
  return sharded.length > 0 ? { status: 'reserved', takes: new Map(sharded) } : { status: 'reserved' };
}

/** The last reconciliation pass, kept in Redis as JSON: an operator's status, rebuilt by the next pass. */
export class RedisPassLog implements PassLog {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly ns = '',
  ) {}

  private get key() {
    return `${this.ns}reconcile:last`;
  }

  async record(pass: PassRecord): Promise<void> {
    await this.redis.set(this.key, JSON.stringify(pass));
  }

  async last(): Promise<PassRecord | null> {
    const value = await this.redis.get(this.key);
    return value ? (JSON.parse(value) as PassRecord) : null;
  }
}
