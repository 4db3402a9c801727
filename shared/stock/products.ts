/** Product use-cases: a product and its live Redis stock exist together or not at all. */
import type { ProductRecord } from '../db/products.ts';
import { ProductNotFoundError, StockUnavailableError } from './errors.ts';
import type { ProductStore } from './ports.ts';
import type { PurchaseStrategy, RedisStock } from './redis-stock.ts';

export interface NewProduct {
  readonly name: string;
  readonly description?: string | null | undefined;
  readonly price: number;
  readonly stock: number;
  readonly strategy?: PurchaseStrategy | undefined;
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

export class ProductService {
  constructor(
    private readonly products: ProductStore,
    private readonly stock: RedisStock,
    private readonly defaultStrategy: PurchaseStrategy,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * DynamoDB first, then Redis; if Redis fails the product is deleted again, so a client never sees
   * a product it cannot buy. A crash in between leaves a product whose stock the reconciler restores.
   */
  async create(input: NewProduct): Promise<ProductWithLiveStock> {
    const at = this.now().toISOString();
    const product: ProductRecord = {
      id: await this.products.nextId(),
      name: input.name,
      description: input.description ?? null,
      price: input.price,
      stock: input.stock,
      initial_stock: input.stock,
      strategy: input.strategy ?? this.defaultStrategy,
      created_at: at,
      updated_at: at,
    };
    await this.products.create(product);
    try {
      await this.stock.load(product);
    } catch (error) {
      await this.products.delete(product.id);
      throw new StockUnavailableError(product.id, { cause: error });
    }
    return { ...product, redis_stock: product.stock };
  }

  async get(id: number): Promise<ProductWithLiveStock> {
    const product = await this.products.get(id);
    if (!product) throw new ProductNotFoundError(id);
    const live = await this.stock.availableOf([id]);
    return { ...product, redis_stock: live.get(id) ?? null };
  }

  async list(skip: number, limit: number): Promise<ProductWithLiveStock[]> {
    const page = (await this.products.listAll()).slice(skip, skip + limit);
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
