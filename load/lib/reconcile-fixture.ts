/**
 * A large catalogue for measuring the reconciler's pass (`npm run bench:reconcile` and its short form
 * in the integration tests): products seeded straight into DynamoDB and Redis in bulk, one large hot
 * deal with its orders, reservations (some expired) and counters, and some products whose Redis
 * stock drifted. Plus meters: DynamoDB calls and capacity per operation (SDK middleware on the
 * client the pass uses) and Redis commands (the server's own count).
 */
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Redis } from 'ioredis';
import { ulid } from 'ulid';
import type { DealProduct, OrderRecord } from '../../shared/model.ts';
import { dealKey, reservationsKey } from '../../shared/orders/redis-deals.ts';
import { stockKey } from '../../shared/stock/redis-stock.ts';

export interface CatalogueSpec {
  /** The first product id (a free range in the table). */
  readonly firstId: number;
  readonly products: number;
  /** Orders of the one large deal (on product `firstId`). */
  readonly orders: number;
  /** Share of the deal's orders still PENDING (the rest CONFIRMED). */
  readonly pendingShare: number;
  /** Products whose Redis stock is one below DynamoDB's (a pass must repair each). */
  readonly drifted: number;
}

export interface Catalogue {
  readonly dealProductId: number;
  readonly driftedIds: readonly number[];
  readonly pending: number;
  readonly expiredReservations: number;
}

const chunks = <T>(items: readonly T[], size: number) =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

/** Up to 25 items per BatchWrite, several at once, unprocessed items sent again. */
async function putAll(doc: DynamoDBDocumentClient, table: string, items: readonly Record<string, unknown>[]) {
  const batches = chunks(items, 25);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < batches.length) {
        let requests = (batches[next++] ?? []).map((Item) => ({ PutRequest: { Item } }));
        while (requests.length > 0) {
          const { UnprocessedItems } = await doc.send(
            new BatchWriteCommand({ RequestItems: { [table]: requests } }),
          );
          requests = (UnprocessedItems?.[table] ?? []) as typeof requests;
        }
      }
    }),
  );
}

export async function seedCatalogue(
  doc: DynamoDBDocumentClient,
  redis: Redis,
  spec: CatalogueSpec,
  tables = { products: 'products', orders: 'orders' },
): Promise<Catalogue> {
  const now = Date.now();
  const at = new Date(now).toISOString();
  const dealProductId = spec.firstId;
  const pendingCount = Math.round(spec.orders * spec.pendingShare);
  const orders: OrderRecord[] = Array.from({ length: spec.orders }, (_, i) => ({
    id: ulid(now - spec.orders + i),
    user_id: 1 + i,
    product_id: dealProductId,
    quantity: 1,
    unit_price: 100,
    total_price: 100,
    status: i < pendingCount ? 'PENDING' : 'CONFIRMED',
    created_at: at,
    // Half the PENDING ones are past their time: the pass has expiries to make.
    expires_at: new Date(i < pendingCount / 2 ? now - 60_000 : now + 3_600_000).toISOString(),
    updated_at: at,
    deal_generation: 1,
  }));
  const dealStock = spec.orders * 2;
  const products: DealProduct[] = Array.from({ length: spec.products }, (_, i) => {
    const id = spec.firstId + i;
    const base = {
      id,
      name: `catalogue ${id}`,
      description: null,
      price: 100,
      stock: 1_000,
      initial_stock: 1_000,
      strategy: 'atomic' as const,
      created_at: at,
      updated_at: at,
    };
    if (id !== dealProductId) return base;
    return {
      ...base,
      stock: dealStock - (spec.orders - pendingCount),
      initial_stock: dealStock,
      deal: {
        status: 'open' as const,
        ends_at: null,
        max_per_user: 0,
        reservation_ttl_seconds: 3_600,
        started_at: at,
        ended_at: null,
        generation: 1,
      },
      deal_reserved: pendingCount,
      deal_free: dealStock - spec.orders,
    };
  });
  await putAll(doc, tables.products, products as unknown as Record<string, unknown>[]);
  await putAll(doc, tables.orders, orders as unknown as Record<string, unknown>[]);

  const driftedIds = products.slice(1, 1 + spec.drifted).map((p) => p.id);
  const drifted = new Set(driftedIds);
  for (const chunk of chunks(products, 1_000)) {
    const pipeline = redis.pipeline();
    for (const p of chunk) {
      const available = p.id === dealProductId ? (p.deal_free ?? 0) : p.stock - (drifted.has(p.id) ? 1 : 0);
      pipeline.hset(
        stockKey(p.id),
        'available',
        available,
        'price',
        p.price,
        'strategy',
        p.strategy,
        'components',
        '[]',
      );
    }
    await pipeline.exec();
  }
  await redis.hset(stockKey(dealProductId), 'deal', 1);
  await redis.hset(
    dealKey(dealProductId),
    'open',
    1,
    'generation',
    1,
    'ends_at_ms',
    0,
    'max_per_user',
    0,
    'reservation_ttl_ms',
    3_600_000,
  );
  for (const chunk of chunks(orders.slice(0, pendingCount), 1_000)) {
    await redis.hset(
      reservationsKey(dealProductId),
      Object.fromEntries(chunk.map((o) => [o.id, `1:${o.user_id}:${Date.parse(o.expires_at)}:1`])),
    );
  }
  return {
    dealProductId,
    driftedIds,
    pending: pendingCount,
    expiredReservations: Math.floor(pendingCount / 2),
  };
}

export interface DynamoMeter {
  /** Calls per operation name (GetItemCommand, QueryCommand, ...). */
  readonly calls: Map<string, number>;
  /** Capacity units DynamoDB reported, read and write together, per operation. */
  readonly capacity: Map<string, number>;
  reset(): void;
  total(): number;
}

/** Count every call on `doc` and ask DynamoDB for the capacity each one consumed. */
export function meterDynamo(doc: DynamoDBDocumentClient): DynamoMeter {
  const calls = new Map<string, number>();
  const capacity = new Map<string, number>();
  doc.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName);
      calls.set(name, (calls.get(name) ?? 0) + 1);
      (args.input as { ReturnConsumedCapacity?: string }).ReturnConsumedCapacity = 'TOTAL';
      const result = await next(args);
      const consumed = (result.output as { ConsumedCapacity?: unknown }).ConsumedCapacity;
      const units = [consumed]
        .flat()
        .reduce(
          (sum: number, c) => sum + Number((c as { CapacityUnits?: number } | undefined)?.CapacityUnits ?? 0),
          0,
        );
      capacity.set(name, (capacity.get(name) ?? 0) + units);
      return result;
    },
    { step: 'initialize', name: 'meter-dynamodb' },
  );
  return {
    calls,
    capacity,
    reset() {
      calls.clear();
      capacity.clear();
    },
    total: () => [...calls.values()].reduce((a, b) => a + b, 0),
  };
}

/** Commands the Redis server has processed so far (INFO stats). */
export async function redisCommands(redis: Redis): Promise<number> {
  const info = await redis.info('stats');
  return Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? 0);
}
