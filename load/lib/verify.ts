/**
 * The verdict on the data after a load run: latency proves nothing about overselling.
 *
 * In this order, so nothing is repaired before it is judged:
 *  1. Before any repair: per product, Redis against DynamoDB from the admin audit: available + held
 *     + reserved = durable stock. The first look right after the load is recorded; if holds are still
 *     in flight it waits (bounded) until they settle by themselves, because while a purchase runs its
 *     durable write may be visible before its hold is committed. The look without holds is judged:
 *     it must balance, and no hold may be left at the bound.
 *  2. One reconcile of the run's products; its repairs (restored, holds committed/released,
 *     reservations settled, stock repaired) must all be 0: a healthy run leaves it nothing to do.
 *  3. After it, per product:
 *     - oversold = 0: DynamoDB never sold more than the initial stock, and the client was never
 *       told "200" for more units than there were;
 *     - Σ durable purchases = initial − remaining (DynamoDB's purchases against its product row);
 *     - Redis stock = DynamoDB stock, with no hold left;
 *     - every 200 the client saw is a durable purchase of that user, product and quantity, and no
 *       durable purchase exists that the client was not told about;
 *     - first come, first served (where the scenario judges it, see `fairness`);
 *     - no 409 LOCK_CONFLICT answered while the product still had units to sell.
 * A scenario that declares an injected fault gets 1 and 2 reported instead of judged.
 * Reported: the share of the first arrivals the stock could serve that were served, and the
 * answers by status.
 *
 * The inventory figures come from the API's admin audit (GET /api/admin/inventory/verify), so they
 * work against a deployed stage; the purchase ids come from DynamoDB when the runner can reach the
 * table, else from each buyer's GET /api/purchases/me.
 */

import { setTimeout as sleep } from 'node:timers/promises';
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

export interface AuditRow {
  product_id: number;
  initial_stock: number;
  sold: number;
  db_stock: number;
  redis_stock: number | null;
  held: number;
  /** Units of pending hot-deal orders; absent from an older stage's audit (then 0). */
  reserved?: number;
  ok: boolean;
}

/** What a reconcile repaired (shared/stock's ReconcileSummary without the product count). */
export interface Repairs {
  readonly restored: number;
  readonly holdsCommitted: number;
  readonly holdsReleased: number;
  readonly reservationsSettled: number;
  readonly repaired: number;
}

export const repairTotal = (r: Repairs) =>
  r.restored + r.holdsCommitted + r.holdsReleased + r.reservationsSettled + r.repaired;

export const describeRepairs = (r: Repairs) =>
  `${r.restored} restored, ${r.holdsCommitted} holds committed, ${r.holdsReleased} released, ${r.reservationsSettled} reservations settled, ${r.repaired} repaired`;

/** What the reconcile after the pre-repair check did. */
export interface Reconciliation {
  readonly summary: string;
  /**
   * Its repairs on the run's products; null where the runner cannot see them (a deployed stage,
   * whose reconciler runs on its schedule inside the VPC).
   */
  readonly repairs: Repairs | null;
}

/** One product's Redis against DynamoDB, from one audit. */
export interface Balance {
  readonly productId: number;
  readonly available: number | null;
  readonly held: number;
  readonly reserved: number;
  readonly durable: number;
  /** available + held + reserved = durable */
  readonly balanced: boolean;
}

/** The check before any repair. */
export interface PreRepair {
  /** Right after the load, before waiting or repairing anything. */
  readonly firstLook: Balance[];
  /** The look that is judged: the first without holds, or the last one at the bound. */
  readonly judged: Balance[];
  /** How long holds in flight took to settle by themselves (0 when none were left). */
  readonly waitedMs: number;
  readonly holdsLeft: number;
  readonly agreed: boolean;
}

/** First come, first served, from the client's send times (see `fairness`). */
export interface Fairness {
  /** Sold-out answers (400 INSUFFICIENT_STOCK). */
  readonly refused: number;
  /** Of them, how many saw a buyer sent later (asking for as many units or more) get a sale. */
  readonly overtaken: number;
  /** The largest such lead, ms between the refused buyer's send and the later buyer's send. */
  readonly maxLeadMs: number;
  /** Overtakings beyond the tolerance: the later buyer was sent after the refused one was answered. */
  readonly violations: number;
  readonly examples: readonly string[];
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
  readonly fcfs: { readonly first: number; readonly served: number } & Fairness;
}

export interface Verdict {
  readonly passed: boolean;
  readonly checks: Check[];
  readonly products: ProductVerdict[];
  readonly fcfs: {
    readonly first: number;
    readonly served: number;
    readonly ratio: number | null;
    readonly judged: boolean;
  } & Omit<Fairness, 'examples'>;
  /** Purchase answers by status ('none' = no answer). */
  readonly statuses: Record<string, number>;
  readonly oversold: number;
  readonly preRepair: PreRepair;
  readonly reconcile: string;
  /** The reconcile's repairs (null: not observable from here); their sum must be 0. */
  readonly repairs: Repairs | null;
  /** The fault the scenario injects, when it declares one: then the pre-repair data is reported only. */
  readonly fault?: string;
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
export function apiSource(client: Api, buyersOf: () => Promise<readonly Buyer[]>): DurableSource {
  return {
    name: 'GET /api/purchases/me of every buyer',
    async list(productIds) {
      const wanted = new Set(productIds);
      let truncated = 0;
      const lists = await pool(await buyersOf(), 16, async (buyer) => {
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

export function balanceOf(row: AuditRow): Balance {
  const reserved = row.reserved ?? 0;
  return {
    productId: row.product_id,
    available: row.redis_stock,
    held: row.held,
    reserved,
    durable: row.db_stock,
    balanced: row.redis_stock !== null && row.redis_stock + row.held + reserved === row.db_stock,
  };
}

/**
 * Step 1 of the verdict: Redis against DynamoDB before any repair. A first look right after the
 * load; while holds remain, looks again every `pollMs` up to `boundMs` (a purchase's durable write
 * may be visible before its hold is committed, so only a look without holds can be judged).
 */
export async function checkBeforeRepair(
  look: () => Promise<AuditRow[]>,
  options: { boundMs: number; pollMs: number },
): Promise<PreRepair> {
  const started = performance.now();
  const firstLook = (await look()).map(balanceOf);
  let judged = firstLook;
  while (judged.some((b) => b.held > 0) && performance.now() - started < options.boundMs) {
    await sleep(options.pollMs);
    judged = (await look()).map(balanceOf);
  }
  const holdsLeft = judged.reduce((sum, b) => sum + b.held, 0);
  return {
    firstLook,
    judged,
    waitedMs: firstLook === judged ? 0 : Math.round(performance.now() - started),
    holdsLeft,
    agreed: holdsLeft === 0 && judged.every((b) => b.balanced),
  };
}

/**
 * First come, first served, judged from what the client saw. The purchase path orders buyers at
 * Redis, not at the client: the lock grants its line in the order buyers first asked Redis for it
 * (shared/lock/scripts.ts: a ticket from INCR, only the head may take the lock, a waiter keeps its
 * place while it keeps asking), and the atomic strategy's Lua reserve runs in arrival order. A buyer
 * reaches Redis some time after it sent its request (network, the HTTP server, the token check, the
 * plan's first peek) and before it gets its answer. So two buyers sent close together may reach the
 * line in either order, and no bound tighter than that window follows from the lock's semantics:
 *
 *   tolerance = the refused buyer's own answer time. A buyer refused sold out (400
 *   INSUFFICIENT_STOCK) may see a buyer sent later (asking for as many units or more) get a sale
 *   only if that buyer was sent before the refusal came back; one sent after it was answered came
 *   to Redis after the refusal was decided, and got a unit that, under FIFO, could not exist.
 *
 * Integer-millisecond timestamps (the HTTP client's timings) get 1 ms of slack. Only meaningful
 * where units never come back during the run (no cancellations, adjustments, failed writes that
 * release their holds: the last are 5xx answers, which fail the run anyway).
 */
export function fairness(attempts: readonly Attempt[]): Fairness {
  const CLOCK_SLACK_MS = 1;
  const sold = attempts.filter((a) => a.status === 200);
  /** The latest send of a sale of at least q units. */
  const latestSale = (q: number) =>
    sold.filter((a) => a.quantity >= q).reduce((latest, a) => Math.max(latest, a.sentAt), -1);
  const refused = attempts.filter((a) => a.status === 400 && a.code === 'INSUFFICIENT_STOCK');
  let overtaken = 0;
  let maxLeadMs = 0;
  let violations = 0;
  const examples: string[] = [];
  for (const r of refused) {
    const latest = latestSale(r.quantity);
    if (latest <= r.sentAt) continue;
    overtaken += 1;
    maxLeadMs = Math.max(maxLeadMs, latest - r.sentAt);
    const answeredAt = r.sentAt + (r.ms ?? Number.POSITIVE_INFINITY);
    if (latest - answeredAt >= CLOCK_SLACK_MS) {
      violations += 1;
      if (examples.length < 3)
        examples.push(
          `attempt ${r.id} (user ${r.userId}) was answered sold out ${Math.round(r.ms ?? 0)} ms after sending; a buyer sent ${Math.round(latest - r.sentAt)} ms after it was sold`,
        );
    }
  }
  return {
    refused: refused.length,
    overtaken,
    maxLeadMs: Math.round(maxLeadMs),
    violations,
    examples,
  };
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

const balanceText = (b: Balance) =>
  `available ${b.available ?? 'missing'} + held ${b.held} + reserved ${b.reserved} ${b.balanced ? '=' : '≠'} durable ${b.durable}`;

const sample = (ids: readonly string[]) =>
  ids.length === 0 ? '' : `: ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', …' : ''}`;

export async function verify(input: {
  client: Api;
  adminToken: string;
  productIds: number[];
  attempts: readonly Attempt[];
  source: DurableSource;
  /** One reconcile of the run's products (or waiting for the scheduled one), after the pre-repair check. */
  reconcile: () => Promise<Reconciliation>;
  /** How long holds still in flight after the load may take to settle by themselves. */
  holdSettleMs?: number;
  pollMs?: number;
  fcfs: 'judged' | 'reported';
  /** The fault the scenario injects on purpose, if any (see Scenario.fault). */
  fault?: string | undefined;
}): Promise<Verdict> {
  const { client, adminToken, productIds, attempts, fault } = input;
  const checks: Check[] = [];
  const products: ProductVerdict[] = [];
  const judged = (ok: boolean) => ok || fault !== undefined;
  const asFault = fault ? ` (injected fault "${fault}": reported, not judged)` : '';

  const preRepair = await checkBeforeRepair(() => auditRows(client, adminToken, productIds), {
    boundMs: input.holdSettleMs ?? 15_000,
    pollMs: input.pollMs ?? 250,
  });
  for (const [i, b] of preRepair.judged.entries()) {
    const first = preRepair.firstLook[i];
    const waited =
      preRepair.waitedMs > 0 && first
        ? `first look ${balanceText(first)}; after ${preRepair.waitedMs} ms of letting holds settle: `
        : '';
    checks.push({
      name: 'Redis = DynamoDB before any repair',
      ok: judged(b.balanced && b.held === 0),
      detail: `product ${b.productId}: ${waited}${balanceText(b)}${b.held > 0 ? `, ${b.held} held units left` : ''}${asFault}`,
    });
  }

  const reconciliation = await input.reconcile();
  const { repairs } = reconciliation;
  checks.push({
    name: 'the reconcile repaired nothing',
    ok: judged(repairs === null ? preRepair.agreed : repairTotal(repairs) === 0),
    detail:
      repairs === null
        ? `${reconciliation.summary}; its repairs are not observable from here${preRepair.agreed ? ', and the data agreed before it' : ''}${asFault}`
        : `${reconciliation.summary}: ${describeRepairs(repairs)}${asFault}`,
  });

  const audit = await auditRows(client, adminToken, productIds);
  const durable = await input.source.list(productIds);

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
      name: 'Redis stock = DynamoDB stock after the reconcile',
      ok: row.redis_stock === row.db_stock && row.held === 0 && (row.reserved ?? 0) === 0,
      detail: `${at}: Redis ${row.redis_stock}, held ${row.held}, reserved ${row.reserved ?? 0}, DynamoDB ${row.db_stock}`,
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

    // 409 LOCK_CONFLICT is for a lock that could not be had; while units remained, the line should
    // have served that buyer (docs/design.md): a conflict answered before the product's last sale was
    // answered, or on a product that never sold out, is one too many.
    const lastSaleAnswered = Math.max(
      0,
      ...mine.filter((a) => a.status === 200).map((a) => a.sentAt + (a.ms ?? 0)),
    );
    const conflictsWhileStock = mine.filter(
      (a) => a.status === 409 && (row.db_stock > 0 || a.sentAt + (a.ms ?? 0) < lastSaleAnswered),
    ).length;
    checks.push({
      name: 'no 409 while stock remained',
      ok: conflictsWhileStock === 0 || input.fault !== undefined,
      detail: `${at}: ${mine.filter((a) => a.status === 409).length} answered 409, ${conflictsWhileStock} of them while units remained${input.fault ? ' (reported: the scenario injects a fault)' : ''}`,
    });

    const fair = fairness(mine);
    if (input.fcfs === 'judged') {
      checks.push({
        name: 'first come, first served',
        ok: fair.violations === 0,
        detail: `${at}: ${fair.refused} answered sold out; ${fair.overtaken} of them saw a buyer sent later get a unit while their own answer was on its way (largest lead ${fair.maxLeadMs} ms; tolerated), ${fair.violations} after they had been answered${fair.examples.length > 0 ? `: ${fair.examples.join('; ')}` : ''}`,
      });
    }

    products.push({
      productId: row.product_id,
      initial: row.initial_stock,
      remaining: row.db_stock,
      sold: row.sold,
      clientSold,
      oversold,
      redisStock: row.redis_stock,
      held: row.held,
      fcfs: { ...firstComeFirstServed(mine, row.initial_stock), ...fair },
    });
  }

  const statuses: Record<string, number> = {};
  for (const a of attempts) {
    const key = a.status === null ? 'none' : String(a.status);
    statuses[key] = (statuses[key] ?? 0) + 1;
  }
  const total = (key: 'first' | 'served' | 'refused' | 'overtaken' | 'violations') =>
    products.reduce((sum, p) => sum + p.fcfs[key], 0);
  const first = total('first');
  return {
    passed: checks.every((c) => c.ok),
    checks,
    products,
    fcfs: {
      first,
      served: total('served'),
      ratio: first > 0 ? total('served') / first : null,
      judged: input.fcfs === 'judged',
      refused: total('refused'),
      overtaken: total('overtaken'),
      maxLeadMs: Math.max(0, ...products.map((p) => p.fcfs.maxLeadMs)),
      violations: total('violations'),
    },
    statuses,
    oversold: products.reduce((sum, p) => sum + p.oversold, 0),
    preRepair,
    reconcile: reconciliation.summary,
    repairs,
    ...(fault && { fault }),
    source: input.source.name,
  };
}
