/**
 * Response shapes of the contract as zod schemas: the OpenAPI document (openapi.ts) is generated from
 * them, and the contract tests check every answer they receive against that document, so a view
 * (views.ts) that drifts from what is written here fails a test. Objects are closed: a field the
 * document does not name is drift too.
 */
import * as z from 'zod';

const id = z.number().int().positive();
const count = z.number().int().nonnegative();
const time = z.iso.datetime({ offset: true });
const liveStock = count.nullable().describe('Units Redis will still sell; null when Redis lost the product');

export const error = z
  .looseObject({
    detail: z.string().describe('A sentence for people'),
    code: z
      .string()
      .regex(/^[A-Z_]+$/)
      .describe('A machine-readable code'),
  })
  .meta({ description: 'Every error: a sentence and a code, and the facts some codes carry' });

export const registered = z.object({ id, username: z.string(), created_at: time });

export const token = z.object({
  access_token: z.string(),
  token_type: z.literal('bearer'),
  expires_in: z.number().int().positive().describe('Seconds'),
});

export const user = z.object({
  id,
  username: z.string(),
  role: z.enum(['user', 'admin']),
  created_at: time,
});

export const health = z.object({
  status: z.literal('ok'),
  redis: z.literal('ok'),
  dynamodb: z.literal('ok'),
  breakers: z
    .record(z.string(), z.enum(['closed', 'open', 'half-open']))
    .describe("This container's circuit breakers, per dependency (extension)"),
});

const component = z.object({ product_id: id, quantity: z.number().int().positive() });

export const product = z.object({
  id,
  name: z.string(),
  description: z.string().nullable(),
  price: count.describe('Won'),
  stock: count.describe('Durable stock (DynamoDB)'),
  redis_stock: liveStock,
  strategy: z.enum(['lock', 'atomic']),
  stock_shards: z
    .number()
    .int()
    .min(1)
    .max(64)
    .describe('DynamoDB items carrying the durable stock (extension); `stock` is their sum'),
  components: z.array(component).optional().describe("A bundle's parts"),
  max_per_user: z
    .number()
    .int()
    .positive()
    .nullable()
    .describe('Most units one buyer may hold over their plain purchases; null: no cap (extension)'),
  created_at: time,
  updated_at: time,
});

export const products = z.array(product);

export const stockView = z.object({
  product_id: id,
  db_stock: count,
  redis_stock: liveStock,
  synced: z.boolean(),
});

const purchaseItem = z.object({
  product_id: id,
  quantity: z.number().int().positive(),
  unit_price: count,
  total_price: count,
});

const purchaseFields = {
  id: z.string(),
  product_id: id.optional().describe('Set when the request named one product'),
  quantity: z.number().int().positive().optional(),
  items: z.array(purchaseItem),
  total_price: count,
  purchased_at: time,
};

export const purchase = z.object(purchaseFields);
export const purchases = z.array(purchase);

const pass = z
  .object({
    at: time,
    duration_ms: count,
    products: count,
    restored: count,
    holds_committed: count,
    holds_released: count,
    reservations_settled: count,
    repaired: count,
    failed: count,
    skipped: z.boolean(),
  })
  .describe('The last reconciliation pass');

export const inventory = z.object({
  consistent: z.boolean(),
  products: z.array(
    z.object({
      product_id: id,
      initial_stock: count,
      adjusted: z.number().int().describe('Σ of the stock adjustments'),
      sold: count,
      db_stock: count,
      redis_stock: liveStock,
      held: z.number().int().describe('Units taken in Redis whose purchase or adjustment is not settled yet'),
      reserved: count.describe('Units reserved by PENDING hot-deal orders'),
      ok: z.boolean().describe('initial + adjusted = db + sold, and redis + held + reserved = db'),
      db_shards: z.array(z.number().int()).optional().describe("A sharded product's durable stock per shard"),
    }),
  ),
  last_reconcile: pass.nullable(),
});

const deal = z.object({
  status: z.enum(['open', 'closed']),
  ends_at: time.nullable(),
  max_per_user: z.number().int().positive().nullable(),
  reservation_ttl_seconds: z.number().int().positive(),
  started_at: time,
  ended_at: time.nullable(),
  generation: z
    .number()
    .int()
    .positive()
    .optional()
    .describe("The deal's number on this product: 1 for the first (extension)"),
});

export const dealStarted = z.object({ product_id: id, deal, db_stock: count, redis_stock: liveStock });

export const dealEnded = z.object({
  product_id: id,
  released: count.describe('Units of PENDING orders expired by the end'),
  confirmed: count,
  db_stock: count,
  redis_stock: liveStock,
});

export const order = z.object({
  id: z.string(),
  product_id: id,
  quantity: z.number().int().positive(),
  unit_price: count,
  total_price: count,
  status: z.enum(['PENDING', 'CONFIRMED', 'CANCELLED', 'EXPIRED']),
  created_at: time,
  expires_at: time,
  updated_at: time,
});

export const orders = z.array(order);

export const stockAdjustment = z.object({
  product_id: id,
  delta: z.number().int(),
  db_stock: count,
  redis_stock: liveStock,
});

const cursor = z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page');

export const purchasePage = z.object({
  items: z.array(z.object({ ...purchaseFields, user_id: id })),
  next_cursor: cursor,
});

export const lock = z.object({
  product_id: id,
  held: z.boolean(),
  ttl_ms: count.describe('Until the lock expires by itself; 0 when free'),
  waiting: count.describe('Buyers in line'),
});

export const auditPage = z.object({
  items: z.array(
    z.object({
      id: z.string(),
      at: time,
      actor: z.string().describe('`user:<id>`, or `reconciler`'),
      action: z.enum([
        'product.create',
        'product.create-undone',
        'product.update',
        'product.delete',
        'stock.adjust',
        'stock.restore',
        'stock.repair',
        'hold.commit',
        'hold.release',
        'deal.start',
        'deal.end',
        'lock.force-release',
        'user.role',
      ]),
      product_id: id.nullable(),
      delta: z.number().int().optional().describe('Units added (positive) or taken (negative)'),
      reason: z.string().optional(),
      detail: z.record(z.string(), z.unknown()).optional(),
    }),
  ),
  next_cursor: cursor,
});

export const openApiDocument = z.looseObject({
  openapi: z.string(),
  info: z.looseObject({}),
  paths: z.looseObject({}),
});

/** The local runtime's metrics as JSON: each metric's sums and percentiles (bin/local/metric-registry.ts). */
export const metrics = z.record(z.string(), z.unknown()).describe('Metric name → its aggregate (extension)');
