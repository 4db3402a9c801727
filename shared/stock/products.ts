/**
 * Product use-cases: a product and its live Redis stock exist together or not at all. Every change
 * writes its audit row in the same DynamoDB transaction.
 */
import { ulid } from 'ulid';
import {
  type AuditAction,
  type AuditEntry,
  type Component,
  type ProductRecord,
  type PurchaseStrategy,
  splitAcrossShards,
} from '../model.ts';
import {
  InvalidBundleError,
  ProductBusyError,
  ProductInDealError,
  ProductNotFoundError,
  StockUnavailableError,
} from './errors.ts';
import type { EventLog, LiveStockStore, ProductChanges, ProductStore } from './ports.ts';

export interface NewProduct {
  readonly name: string;
  readonly description?: string | null | undefined;
  readonly price: number;
  readonly stock: number;
  readonly strategy?: PurchaseStrategy | undefined;
  /** Makes the product a bundle of these (each must exist and not be a bundle itself). */
  readonly components?: readonly Component[] | undefined;
  /** DynamoDB items the durable stock is split across (1: the product item itself, today's design). */
  readonly stock_shards?: number | undefined;
  /** The most units of it one buyer may hold over their plain purchases; none when absent or null. */
  readonly max_per_user?: number | null | undefined;
}

export interface ProductWithLiveStock extends ProductRecord {
  /** Units Redis will still sell; null when Redis has no stock for it (the reconciler restores it). */
  readonly redis_stock: number | null;
}

export interface StockView {
  readonly product_id: number;
  readonly db_stock: number;
  readonly redis_stock: number | null;
  readonly synced: boolean;
}

/**
 * The catalogue as one Scan read, shared by every listing in this container for `ttlMs` (and by the
 * listings that arrive while it is being read): a crowd refreshing the product list costs one Scan
 * per container per interval instead of one per request. A product created through this service
 * drops the copy at once; one created elsewhere shows within `ttlMs`.
 */
class CatalogueCache {
  private read: { at: number; products: Promise<ProductRecord[]> } | undefined;

  constructor(
    private readonly load: () => Promise<ProductRecord[]>,
    private readonly ttlMs: number,
  ) {}

  get(): Promise<ProductRecord[]> {
    const now = Date.now();
    if (!this.read || now - this.read.at >= this.ttlMs) {
      const products = this.load();
      const read = { at: now, products };
      this.read = read;
      products.catch(() => {
        if (this.read === read) this.read = undefined;
      });
    }
    return this.read.products;
  }

  drop(): void {
    this.read = undefined;
  }
}

/** A delete re-reads the stock this often while a sale keeps changing it, then gives up (409). */
const MAX_DELETE_ATTEMPTS = 50;

export class ProductService {
  private readonly catalogue: CatalogueCache;

  constructor(
    private readonly products: ProductStore,
    private readonly stock: LiveStockStore,
    private readonly defaultStrategy: PurchaseStrategy,
    private readonly now: () => Date = () => new Date(),
    /** How long a listing's Scan is reused (0: a Scan per listing). */
    catalogueTtlMs = 0,
    private readonly log?: EventLog,
  ) {
    this.catalogue = new CatalogueCache(() => this.products.listAll(), catalogueTtlMs);
  }

  private entry(action: AuditAction, actor: string, fields: Partial<AuditEntry> = {}): AuditEntry {
    return { id: ulid(), at: this.now().toISOString(), actor, action, ...fields };
  }

  /**
   * DynamoDB first, then Redis; if Redis fails the product is deleted again, so a client never sees
   * a product it cannot buy. A crash in between leaves a product whose stock the reconciler restores.
   */
  async create(input: NewProduct, actor = 'system'): Promise<ProductWithLiveStock> {
    if (input.components) await this.checkComponents(input.components);
    const at = this.now().toISOString();
    const shards = input.stock_shards ?? 1;
    const product: ProductRecord = {
      id: await this.products.nextId(),
      name: input.name,
      description: input.description ?? null,
      price: input.price,
      stock: input.stock,
      initial_stock: input.stock,
      strategy: input.strategy ?? this.defaultStrategy,
      ...(input.components && { components: input.components }),
      // Only a sharded product carries the field: an unsharded one is stored exactly as before.
      ...(shards > 1 && { stock_shards: shards, shard_stock: splitAcrossShards(input.stock, shards) }),
      // No cap is no attribute (a sale's condition checks its absence), never a stored null.
      ...(input.max_per_user != null && { max_per_user: input.max_per_user }),
      created_at: at,
      updated_at: at,
    };
    await this.products.create(
      product,
      this.entry('product.create', actor, {
        product_id: product.id,
        delta: product.stock,
        detail: {
          name: product.name,
          price: product.price,
          strategy: product.strategy,
          ...(shards > 1 && { stock_shards: shards }),
          ...(product.max_per_user !== undefined && { max_per_user: product.max_per_user }),
        },
      }),
    );
    this.catalogue.drop();
    try {
      await this.stock.put(product);
    } catch (error) {
      await this.products.delete(
        product.id,
        this.entry('product.create-undone', actor, {
          product_id: product.id,
          delta: -product.stock,
          reason: 'live stock could not be written',
        }),
      );
      throw new StockUnavailableError(product.id, { cause: error });
    }
    return { ...product, redis_stock: product.stock };
  }

  /**
   * Name, description, price or per-buyer cap. A new price or cap goes to Redis after DynamoDB: a
   * sale priced or capped from the old live value in between is refused by the durable condition and
   * tried again under the new one.
   */
  async update(id: number, changes: ProductChanges, actor: string): Promise<ProductWithLiveStock> {
    const before = await this.products.get(id, true);
    if (!before) throw new ProductNotFoundError(id);
    const changed = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
    const was = Object.fromEntries(
      Object.keys(changed).map((k) => [k, before[k as keyof ProductChanges] ?? null]),
    );
    const entry = this.entry('product.update', actor, { product_id: id, detail: { from: was, to: changed } });
    if (!(await this.products.update(id, changes, entry))) throw new ProductNotFoundError(id);
    if (changes.price !== undefined) await this.stock.setPrice(id, changes.price);
    if (changes.max_per_user !== undefined) await this.stock.setCap(id, changes.max_per_user);
    const product = await this.products.get(id, true);
    if (!product) throw new ProductNotFoundError(id);
    const live = await this.stock.availableOf([id]);
    return { ...product, redis_stock: live.get(id) ?? null };
  }

  /**
   * Delete a product (not while a hot deal is open on it). DynamoDB first: from then on no purchase
   * can land (its transaction requires the product), then Redis forgets it, so later buyers get 404.
   * Its purchases stay in the history.
   */
  async remove(id: number, actor: string): Promise<void> {
    // The audit row names the units the delete took off sale: read the stock, delete only if it is
    // still that, and read again when a sale got in between.
    for (let attempt = 1; ; attempt++) {
      const product = await this.products.get(id, true);
      if (!product) throw new ProductNotFoundError(id);
      const entry = this.entry('product.delete', actor, {
        product_id: id,
        delta: -product.stock,
        detail: { name: product.name, db_stock: product.stock },
      });
      const outcome = await this.products.remove(id, product.stock, entry);
      if (outcome === 'not-found') throw new ProductNotFoundError(id);
      if (outcome === 'deal-active') throw new ProductInDealError(id);
      if (outcome === 'deleted') break;
      if (attempt >= MAX_DELETE_ATTEMPTS) throw new ProductBusyError(id);
    }
    try {
      await this.stock.drop(id);
    } catch (error) {
      // Harmless: a purchase that reaches the leftover live stock is refused by DynamoDB.
      this.log?.warn('product deleted; its live stock could not be dropped', { product_id: id, error });
    }
  }

  /** One level of bundling: a set of products, never a set of sets (its cost would be unbounded). */
  private async checkComponents(components: readonly Component[]): Promise<void> {
    const found = await Promise.all(components.map((c) => this.products.get(c.product_id, true)));
    found.forEach((product, i) => {
      const wanted = components[i]?.product_id;
      if (!product) throw new InvalidBundleError(`Component product ${wanted} does not exist`);
      if (product.components?.length)
        throw new InvalidBundleError(`Component product ${wanted} is itself a bundle`);
    });
  }

  async get(id: number): Promise<ProductWithLiveStock> {
    const product = await this.products.get(id);
    if (!product) throw new ProductNotFoundError(id);
    const live = await this.stock.availableOf([id]);
    return { ...product, redis_stock: live.get(id) ?? null };
  }

  async list(skip: number, limit: number): Promise<ProductWithLiveStock[]> {
    const page = (await this.catalogue.get()).slice(skip, skip + limit);
    const live = await this.stock.availableOf(page.map((p) => p.id));
    return page.map((p) => ({ ...p, redis_stock: live.get(p.id) ?? null }));
  }

  async stockOf(id: number): Promise<StockView> {
    const product = await this.products.get(id, true);
    if (!product) throw new ProductNotFoundError(id);
    const redis = (await this.stock.availableOf([id])).get(id) ?? null;
    return { product_id: id, db_stock: product.stock, redis_stock: redis, synced: redis === product.stock };
  }
}
