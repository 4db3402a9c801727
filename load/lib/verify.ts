/**
 * The verdict on the data after a load run: latency proves nothing about overselling.
 *
 * Per product of the run, after one reconcile:
 *  - oversold = 0: DynamoDB never sold more than the initial stock, and the client was never told
 *    "200" for more units than there were;
 *  - Σ durable purchases = initial − remaining (DynamoDB's purchases against its product row);
 *  - Redis stock = DynamoDB stock, with no hold left;
 *  - every 200 the client saw is a durable purchase of that user, product and quantity, and no
 *    durable purchase exists that the client was not told about.
 * Reported, not judged: first-come-first-served (of the first arrivals the stock could serve, how
 * many were served) and the answers by status.
 *
 * The inventory figures come from the API's admin audit (GET /api/admin/inventory/verify), so they
 * work against a deployed stage; the purchase ids come from DynamoDB when the runner can reach the
 * table, else from each buyer's GET /api/purchases/me.
 */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import {
  createDocumentClient,
  PURCHASES_BY_PRODUCT_INDEX,
  PurchaseRepository,
  tableDefinitions,
} from '#shared/db';
import type { PurchaseRecord } from '#shared/model';
import type { Attempt } from './events.ts';
import type { Api } from './local.ts';

export interface Buyer {
  readonly token: string;
  readonly userId: number;
}

/** A durable purchase as the verifier needs it: who bought, and the units it took per product. */
export interface DurablePurchase {
  readonly id: string;
  readonly user_id: number;
  readonly lines: readonly { readonly product_id: number; readonly quantity: number }[];
}

/** The units a stored purchase took per product: its lines, or the one product of an older record. */
function linesOf(record: Partial<PurchaseRecord>): DurablePurchase['lines'] {
  if (record.lines && record.lines.length > 0) return record.lines;
  return record.product_id === undefined
    ? []
    : [{ product_id: record.product_id, quantity: record.quantity ?? 0 }];
}

/** Where the durable purchases of the run's products are listed from. */
export interface DurableSource {
  readonly name: string;
  list(productIds: number[]): Promise<{ purchases: DurablePurchase[]; complete: boolean; note?: string }>;
}

interface AuditRow {
  product_id: number;
  initial_stock: number;
  sold: number;
  db_stock: number;
  redis_stock: number | null;
  held: number;
  ok: boolean;
}

export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface ProductVerdict {
  readonly productId: number;
  readonly initial: number;
  readonly remaining: number;
  readonly sold: number;
  readonly clientSold: number;
  readonly oversold: number;
  readonly redisStock: number | null;
  readonly held: number;
  /** Of the first arrivals whose quantities fit in the stock, how many got a 200. */
  readonly fcfs: { readonly first: number; readonly served: number };
}

export interface Verdict {
  readonly passed: boolean;
  readonly checks: Check[];
  readonly products: ProductVerdict[];
  readonly fcfs: { readonly first: number; readonly served: number; readonly ratio: number | null };
  /** Purchase answers by status ('none' = no answer). */
  readonly statuses: Record<string, number>;
  readonly oversold: number;
  readonly reconcile: string;
  readonly source: string;
}

async function pool<T, R>(items: readonly T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(size, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await work(items[i] as T);
      }
    }),
  );
  return out;
}

/**
 * DynamoDB directly: every row of the audit's by-product index (key names from the table
 * definition, so the verifier reads what the audit reads), mapped to its purchase (a multi-product
 * purchase indexes one `<id>#<product id>` line row per product), then each purchase by id with a
 * consistent read for its user and lines.
 */
export function dynamoSource(options: {
  region: string;
  endpoint?: string | undefined;
  purchasesTable: string;
}): DurableSource {
  const doc = createDocumentClient({ AWS_REGION: options.region, DYNAMODB_ENDPOINT: options.endpoint });
  // The products table name is used only by record(), which the verifier never calls.
  const repository = new PurchaseRepository(doc, options.purchasesTable, 'unused');
  const index = tableDefinitions.purchases.globalSecondaryIndexes.find(
    (i) => i.indexName === PURCHASES_BY_PRODUCT_INDEX,
  );
  if (!index) throw new Error(`the purchases table has no ${PURCHASES_BY_PRODUCT_INDEX} index`);
  return {
    name: `DynamoDB (${options.purchasesTable}, index ${index.indexName})`,
    async list(productIds) {
      const ids = new Set<string>();
      for (const productId of productIds) {
        let ExclusiveStartKey: Record<string, unknown> | undefined;
        do {
          const page = await doc.send(
            new QueryCommand({
              TableName: options.purchasesTable,
              IndexName: index.indexName,
              KeyConditionExpression: '#product = :p',
              ExpressionAttributeNames: { '#product': index.partitionKey.name },
              ExpressionAttributeValues: { ':p': productId },
              ExclusiveStartKey,
            }),
          );
          for (const item of page.Items ?? []) ids.add(String(item.id).split('#')[0] ?? '');
          ExclusiveStartKey = page.LastEvaluatedKey;
        } while (ExclusiveStartKey);
      }
      const records = await pool([...ids], 16, (id) => repository.get(id));
      const purchases = records
        .filter((r) => r !== null)
        .map((r) => ({ id: r.id, user_id: r.user_id, lines: linesOf(r) }));
      const lost = records.length - purchases.length;
      return {
        purchases,
        complete: lost === 0,
        ...(lost > 0 && { note: `${lost} indexed purchases could not be read` }),
      };
    },
  };
}

/**
 * Through the API only (a deployed stage without table access): each buyer's own purchases. The
 * endpoint answers the newest 100, so a buyer with 100 answers whose oldest is of this run may
 * have more: the listing is then marked incomplete rather than trusted.
 */
export function apiSource(client: Api, buyers: readonly Buyer[]): DurableSource {
  return {
    name: 'GET /api/purchases/me of every buyer',
    async list(productIds) {
      const wanted = new Set(productIds);
      let truncated = 0;
      const lists = await pool(buyers, 16, async (buyer) => {
        const reply = await client.call('GET', '/api/purchases/me', undefined, buyer.token);
        if (reply.status !== 200) throw new Error(`GET /api/purchases/me answered ${reply.status}`);
        const rows = (reply.body as Partial<PurchaseRecord>[]).map((r) => ({
          id: String(r.id),
          user_id: buyer.userId,
          lines: linesOf(r),
        }));
        if (rows.length >= 100 && rows.at(-1)?.lines.some((l) => wanted.has(l.product_id))) truncated += 1;
        return rows.filter((r) => r.lines.some((l) => wanted.has(l.product_id)));
      });
      return {
        purchases: lists.flat(),
        complete: truncated === 0,
        ...(truncated > 0 && { note: `${truncated} buyers have more purchases than one page shows` }),
      };
    },
  };
}

/** The admin audit rows of the given products. */
export async function auditRows(client: Api, adminToken: string, productIds: number[]): Promise<AuditRow[]> {
  const reply = await client.call('GET', '/api/admin/inventory/verify', undefined, adminToken);
  if (reply.status !== 200) throw new Error(`GET /api/admin/inventory/verify answered ${reply.status}`);
  const rows = (reply.body as { products: AuditRow[] }).products;
  return productIds.map((id) => {
    const row = rows.find((r) => r.product_id === id);
    if (!row) throw new Error(`the audit does not list product ${id}`);
    return row;
  });
}

/** Of the first arrivals whose quantities add up to at most the stock, how many got a 200. */
function firstComeFirstServed(attempts: readonly Attempt[], initial: number) {
  let units = 0;
  let first = 0;
  let served = 0;
  for (const attempt of [...attempts].sort((a, b) => a.sentAt - b.sentAt)) {
    if (units + attempt.quantity > initial) break;
    units += attempt.quantity;
    first += 1;
    if (attempt.status === 200) served += 1;
  }
  return { first, served };
}

const sample = (ids: readonly string[]) =>
  ids.length === 0 ? '' : `: ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', …' : ''}`;

export async function verify(input: {
  client: Api;
  adminToken: string;
  productIds: number[];
  attempts: readonly Attempt[];
  source: DurableSource;
  /** One reconcile (or waiting for the scheduled one); says what it did. */
  settle: () => Promise<string>;
}): Promise<Verdict> {
  const { client, adminToken, productIds, attempts } = input;
  const reconcile = await input.settle();
  const audit = await auditRows(client, adminToken, productIds);
  const durable = await input.source.list(productIds);
  const checks: Check[] = [];
  const products: ProductVerdict[] = [];

  const acknowledged = new Map(
    attempts.filter((a) => a.status === 200 && a.purchaseId).map((a) => [a.purchaseId as string, a]),
  );
  const durableById = new Map(durable.purchases.map((p) => [p.id, p]));

  for (const row of audit) {
    const mine = attempts.filter((a) => a.productId === row.product_id);
    const clientSold = mine.filter((a) => a.status === 200).reduce((sum, a) => sum + a.quantity, 0);
    const unitsOf = (p: DurablePurchase) =>
      p.lines.filter((l) => l.product_id === row.product_id).reduce((sum, l) => sum + l.quantity, 0);
    const listed = durable.purchases.filter((p) => unitsOf(p) > 0);
    const listedUnits = listed.reduce((sum, p) => sum + unitsOf(p), 0);
    const oversold = Math.max(
      0,
      row.sold - row.initial_stock,
      listedUnits - row.initial_stock,
      clientSold - row.initial_stock,
      -row.db_stock,
    );
    const at = `product ${row.product_id}`;
    checks.push({
      name: 'oversold = 0',
      ok: oversold === 0,
      detail: `${at}: ${row.initial_stock} units, DynamoDB sold ${row.sold}, the client was told ${clientSold}`,
    });
    checks.push({
      name: 'Σ purchases = initial − remaining',
      ok: row.sold === row.initial_stock - row.db_stock && listedUnits === row.sold,
      detail: `${at}: Σ purchases ${row.sold} (listed: ${listedUnits}), initial ${row.initial_stock} − remaining ${row.db_stock} = ${row.initial_stock - row.db_stock}`,
    });
    checks.push({
      name: 'Redis stock = DynamoDB stock',
      ok: row.redis_stock === row.db_stock && row.held === 0,
      detail: `${at}: Redis ${row.redis_stock}, held ${row.held}, DynamoDB ${row.db_stock}`,
    });

    const missing: string[] = [];
    const wrong: string[] = [];
    for (const attempt of mine.filter((a) => a.status === 200)) {
      const found = attempt.purchaseId ? durableById.get(attempt.purchaseId) : undefined;
      if (!found) missing.push(attempt.purchaseId ?? `(a 200 without an id, attempt ${attempt.id})`);
      else if (found.user_id !== attempt.userId || unitsOf(found) !== attempt.quantity) wrong.push(found.id);
    }
    checks.push({
      name: 'every 200 is durable',
      ok: missing.length === 0 && wrong.length === 0,
      detail: `${at}: ${mine.filter((a) => a.status === 200).length} acknowledged, ${missing.length} not found${sample(missing)}, ${wrong.length} with another user, product or quantity${sample(wrong)}`,
    });
    const untold = listed.filter((p) => !acknowledged.has(p.id)).map((p) => p.id);
    checks.push({
      name: 'no purchase the client was not told about',
      ok: untold.length === 0 && durable.complete,
      detail: `${at}: ${listed.length} durable, ${untold.length} never acknowledged${sample(untold)}${durable.note ? `; ${durable.note}` : ''}`,
    });

    products.push({
      productId: row.product_id,
      initial: row.initial_stock,
      remaining: row.db_stock,
      sold: row.sold,
      clientSold,
      oversold,
      redisStock: row.redis_stock,
      held: row.held,
      fcfs: firstComeFirstServed(mine, row.initial_stock),
    });
  }

  const statuses: Record<string, number> = {};
  for (const a of attempts) {
    const key = a.status === null ? 'none' : String(a.status);
    statuses[key] = (statuses[key] ?? 0) + 1;
  }
  const first = products.reduce((sum, p) => sum + p.fcfs.first, 0);
  const served = products.reduce((sum, p) => sum + p.fcfs.served, 0);
  return {
    passed: checks.every((c) => c.ok),
    checks,
    products,
    fcfs: { first, served, ratio: first > 0 ? served / first : null },
    statuses,
    oversold: products.reduce((sum, p) => sum + p.oversold, 0),
    reconcile,
    source: input.source.name,
  };
}
