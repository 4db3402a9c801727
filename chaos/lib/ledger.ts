/**
 * The ledger checker: what the buyers were told against what DynamoDB holds, after the fault.
 *
 * The reconciler and the audit run in this process through the functions' own wiring
 * (shared/wiring/stock.ts, what `npm run reconcile` runs), pointed at the stack's Redis (through its
 * proxy, so it follows a failover) and DynamoDB Local, in the service's store namespace. DynamoDB is
 * read directly: purchases by id and by product, orders by product.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type DurablePurchase, dynamoSource } from '../../load/lib/verify.ts';
import { createDocumentClient, OrderRepository, ProductRepository } from '../../shared/db/index.ts';
import type { OrderRecord } from '../../shared/model.ts';
import type { InventoryAudit, ProductAudit, ReconcileSummary } from '../../shared/stock/index.ts';
import { purchaseIdFor } from '../../shared/stock/purchase-ids.ts';
import type { Exchange, Recorder } from './crowd.ts';
import { type ChaosStack, HOLD_STALE_AFTER_MS } from './stack.ts';

export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface Backstage {
  reconcileOnce(): Promise<ReconcileSummary>;
  audit(): Promise<InventoryAudit>;
  durable(productIds: number[]): Promise<DurablePurchase[]>;
  orders(productId: number): Promise<OrderRecord[]>;
  close(): Promise<void>;
}

/** The reconciler and the audit of the service's store, and DynamoDB read directly. */
export async function backstage(stack: ChaosStack): Promise<Backstage> {
  const dynamoEndpoint = stack.dynamo.url;
  const doc: DynamoDBDocumentClient = createDocumentClient({
    AWS_REGION: 'us-east-1',
    DYNAMODB_ENDPOINT: dynamoEndpoint,
  });
  // The wiring reads its configuration once, on first use: set it before anything loads it.
  Object.assign(process.env, {
    STAGE: 'local',
    REDIS_URL: `redis://127.0.0.1:${stack.redisProxy.port}`,
    DYNAMODB_ENDPOINT: dynamoEndpoint,
    STORE_ID: await new ProductRepository(doc, 'products').storeId(),
    HOLD_STALE_AFTER_MS: String(HOLD_STALE_AFTER_MS),
    LOG_LEVEL: 'ERROR',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  });
  const { reconciler } = await import('../../shared/wiring/stock.ts');
  const { redisClient } = await import('../../shared/wiring/redis.ts');
  const orders = new OrderRepository(doc, 'orders', 'products', 'purchases');
  const purchases = dynamoSource({
    region: 'us-east-1',
    endpoint: dynamoEndpoint,
    purchasesTable: 'purchases',
  });
  return {
    async reconcileOnce() {
      // A pass finding another one's lease does nothing; "one reconcile" is one pass that ran.
      for (let attempt = 0; ; attempt++) {
        const summary = await (await reconciler.get()).reconcileAll();
        if (!summary.skipped || attempt >= 10) return summary;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    },
    audit: async () => (await reconciler.get()).verify(),
    durable: async (productIds) => (await purchases.list(productIds)).purchases,
    orders: (productId) => orders.listByProduct(productId),
    close: async () => (await redisClient.get()).disconnect(),
  };
}

export interface SaleProducts {
  readonly lock: number;
  readonly atomic: number;
  readonly cart: readonly [number, number];
  readonly deal: number;
  readonly probes: { readonly lock: number; readonly atomic: number };
  readonly dealCap: number;
}

export const allProducts = (p: SaleProducts) => [
  p.lock,
  p.atomic,
  ...p.cart,
  p.deal,
  p.probes.lock,
  p.probes.atomic,
];
const lockProducts = (p: SaleProducts) => new Set([p.lock, p.cart[0], p.probes.lock]);

const buys = (e: Exchange) => e.kind === 'purchase' || e.kind === 'probe' || e.kind === 'resolve';

/**
 * A purchase answer that tells the buyer nothing was bought (the contract: a 4xx leaves no trace).
 * Not 429: the gateway throttled the request before any function saw it, which says nothing about
 * an earlier attempt with the same key.
 */
export const saysNothingBought = (e: Exchange) =>
  e.status !== null &&
  ((e.status >= 400 && e.status < 500 && e.code !== 'PURCHASE_IN_PROGRESS' && e.status !== 429) ||
    (e.status === 503 && e.code === 'PURCHASE_NOT_RECORDED'));

const sample = (items: readonly string[]) =>
  items.length === 0 ? '' : `: ${items.slice(0, 4).join(', ')}${items.length > 4 ? ', …' : ''}`;

/** Resend, once, every purchase whose buyer gave up without an answer that settles it. */
export async function resolveUnsettled(recorder: Recorder, stack: ChaosStack): Promise<number> {
  const last = new Map<string, Exchange>();
  for (const e of recorder.exchanges) if (buys(e) && e.key) last.set(e.key, e);
  const open = [...last.values()].filter((e) => !(e.status !== null && settlesFinal(e)));
  const users = new Map(stack.users.map((u) => [u.userId, u]));
  // A buyer resends its own purchases one after another, as a client app does: run side by side, one
  // buyer's resends would trip the service's own limits (2 purchases in flight, one place in a
  // product's lock line) and read as throttles. A few buyers at a time: the resends are the buyers'
  // last look, not another stampede.
  const byBuyer = new Map<number, Exchange[]>();
  for (const e of open) byBuyer.set(e.userId, [...(byBuyer.get(e.userId) ?? []), e]);
  const buyers = [...byBuyer.values()];
  let next = 0;
  const one = async () => {
    for (let mine = buyers[next++]; mine; mine = buyers[next++]) {
      for (const e of mine) {
        const user = users.get(e.userId);
        if (!user || !e.lines) continue;
        const body =
          e.lines.length === 1
            ? { product_id: e.lines[0]?.product_id, quantity: e.lines[0]?.quantity }
            : { items: e.lines };
        // A throttle, a 5xx or a timeout of this look itself may be the machine's, or an in-flight
        // slot that a request cut off by the fault could not give back (it expires by itself; the
        // 429's Retry-After says when): look again, with backoff; what is still open after that
        // fails the check.
        for (let attempt = 0; attempt < 12; attempt++) {
          const answer = await recorder.send('resolve', user, 'POST', '/api/purchases', body, {
            key: e.key,
            lines: e.lines,
          });
          if (answer.status !== null && answer.status !== 429 && answer.status < 500) break;
          await recorder.backoff(answer, attempt + 2);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, one));
  return open.length;
}

function settlesFinal(e: Exchange): boolean {
  if (e.status === null || e.status >= 500 || e.status === 429) return false;
  return !(e.status === 409 && e.code === 'PURCHASE_IN_PROGRESS');
}

/** Confirm every order still PENDING: it must be confirmable, or expired. */
export async function confirmPending(
  recorder: Recorder,
  stack: ChaosStack,
  pending: readonly OrderRecord[],
): Promise<Exchange[]> {
  const users = new Map(stack.users.map((u) => [u.userId, u]));
  return Promise.all(
    pending.map(async (order) => {
      const user = users.get(order.user_id);
      if (!user) throw new Error(`order ${order.id} belongs to user ${order.user_id}, not one of the crowd`);
      // A confirm may be repeated (a CONFIRMED order answers 200 again): a throttle, a 5xx or a lost
      // answer on a busy machine is asked again; a refusal is the verdict.
      for (let attempt = 0; ; attempt++) {
        const answer = await recorder.send(
          'confirm',
          user,
          'POST',
          `/api/orders/${order.id}/confirm`,
          undefined,
          {
            orderId: order.id,
          },
        );
        if ((answer.status !== null && answer.status !== 429 && answer.status < 500) || attempt >= 3)
          return answer;
        await recorder.backoff(answer, attempt + 2);
      }
    }),
  );
}

export interface LedgerInput {
  readonly products: SaleProducts;
  readonly exchanges: readonly Exchange[];
  readonly reconcile: ReconcileSummary;
  /** The audit right after the one reconcile, before anything else touched the store. */
  readonly afterReconcile: InventoryAudit;
  /** The audit at the very end (after the resends and the final confirms). */
  readonly final: InventoryAudit;
  readonly durable: readonly DurablePurchase[];
  /** Every order of the deal product at the end, and what the final confirms answered. */
  readonly orders: readonly OrderRecord[];
  readonly finalConfirms: readonly Exchange[];
  readonly clearedAt: number;
  readonly recoveryBoundMs: number;
}

export interface Recovery {
  readonly lockMs: number | null;
  readonly atomicMs: number | null;
}

export function recovery(input: Pick<LedgerInput, 'exchanges' | 'clearedAt' | 'products'>): Recovery {
  const locks = lockProducts(input.products);
  const first = (strategy: 'lock' | 'atomic') => {
    const sale = input.exchanges
      .filter(
        (e) =>
          (e.kind === 'purchase' || e.kind === 'probe') &&
          e.status === 200 &&
          e.sentAt >= input.clearedAt &&
          e.lines?.some((l) => locks.has(l.product_id) === (strategy === 'lock')),
      )
      .map((e) => e.answeredAt - input.clearedAt);
    return sale.length > 0 ? Math.min(...sale) : null;
  };
  return { lockMs: first('lock'), atomicMs: first('atomic') };
}

export function judge(input: LedgerInput): { checks: Check[]; recovery: Recovery } {
  const { products, exchanges } = input;
  const ids = allProducts(products);
  const checks: Check[] = [];
  const rows = (audit: InventoryAudit) =>
    ids.map((id) => audit.products.find((p) => p.product_id === id) ?? missingRow(id));

  // Oversold: DynamoDB's own count, the listed purchases, and what buyers were told.
  const durableById = new Map(input.durable.map((p) => [p.id, p]));
  const told = new Map<string, Exchange>();
  for (const e of exchanges) if (buys(e) && e.status === 200 && e.purchaseId) told.set(e.purchaseId, e);
  const confirmed = new Map<string, Exchange>();
  for (const e of exchanges)
    if (e.kind === 'confirm' && e.status === 200 && e.orderId) confirmed.set(e.orderId, e);
  const ordersById = new Map(input.orders.map((o) => [o.id, o]));
  const oversold: string[] = [];
  for (const row of rows(input.final)) {
    const listed = input.durable.reduce(
      (sum, p) =>
        sum + p.lines.filter((l) => l.product_id === row.product_id).reduce((s, l) => s + l.quantity, 0),
      0,
    );
    let toldUnits = 0;
    for (const e of told.values())
      for (const l of e.lines ?? []) if (l.product_id === row.product_id) toldUnits += l.quantity;
    if (row.product_id === products.deal)
      for (const id of confirmed.keys()) toldUnits += ordersById.get(id)?.quantity ?? 0;
    const over = Math.max(
      0,
      row.sold - row.initial_stock,
      listed - row.initial_stock,
      toldUnits - row.initial_stock,
      -row.db_stock,
    );
    if (over > 0 || listed !== row.sold)
      oversold.push(
        `product ${row.product_id}: initial ${row.initial_stock}, sold ${row.sold}, listed ${listed}, told ${toldUnits}`,
      );
  }
  checks.push({
    name: 'oversold = 0',
    ok: oversold.length === 0,
    detail:
      oversold.length === 0
        ? `${ids.length} products: sold ≤ initial, Σ purchases = sold, buyers told ≤ initial`
        : oversold.join('; '),
  });

  // Every 200 is a durable purchase of that buyer and those lines.
  const notDurable: string[] = [];
  for (const [id, e] of told) {
    const found = durableById.get(id);
    const same =
      found &&
      found.user_id === e.userId &&
      (e.lines ?? []).every((l) =>
        found.lines.some((f) => f.product_id === l.product_id && f.quantity === l.quantity),
      );
    if (!same) notDurable.push(id);
  }
  for (const id of confirmed.keys()) {
    if (ordersById.get(id)?.status !== 'CONFIRMED' || !durableById.has(id)) notDurable.push(`order ${id}`);
  }
  checks.push({
    name: 'every 200 is durable',
    ok: notDurable.length === 0,
    detail: `${told.size} purchases and ${confirmed.size} confirmations acknowledged, ${notDurable.length} not durable${sample(notDurable)}`,
  });

  // Every answer that said nothing was bought: no durable purchase, unless a later retry with the
  // same key was told 200 (the retry bought it).
  const boughtLater = new Map<string, number>();
  for (const e of exchanges)
    if (buys(e) && e.status === 200 && e.key)
      boughtLater.set(e.key, Math.max(boughtLater.get(e.key) ?? 0, e.sentAt));
  const lies: string[] = [];
  let refusals = 0;
  for (const e of exchanges) {
    if (!buys(e) || !e.key || !saysNothingBought(e)) continue;
    refusals += 1;
    const id = purchaseIdFor(e.userId, e.key);
    if (durableById.has(id) && !((boughtLater.get(e.key) ?? 0) > e.sentAt))
      lies.push(`${e.status} ${e.code} for ${id}`);
  }
  checks.push({
    name: '"nothing bought" means nothing bought',
    ok: lies.length === 0,
    detail: `${refusals} answers said nothing was bought; ${lies.length} of them have a durable purchase${sample(lies)}`,
  });

  // After the reconcile every buyer can learn its outcome: the resend of each unsettled purchase settles.
  const resends = exchanges.filter((e) => e.kind === 'resolve');
  const stillOpen = resends
    .filter((e) => !settlesFinal(e))
    .map((e) => `${e.key}: ${e.status ?? 'no answer'} ${e.code ?? ''}`);
  checks.push({
    name: 'every purchase has an outcome after the reconcile',
    ok: stillOpen.length === 0,
    detail: `${resends.length} purchases were left unsettled by their buyers and resent once: ${resends.filter((e) => e.status === 200).length} answered 200, ${resends.filter((e) => e.status !== null && saysNothingBought(e)).length} nothing bought, ${stillOpen.length} still open${sample(stillOpen)}`,
  });

  // Redis = DynamoDB after one reconcile (and still at the end).
  const off = (audit: InventoryAudit) =>
    rows(audit)
      .filter((r) => !r.ok || r.held !== 0)
      .map(
        (r) =>
          `product ${r.product_id}: Redis ${r.redis_stock} + held ${r.held} + reserved ${r.reserved} vs DynamoDB ${r.db_stock} (sold ${r.sold} of ${r.initial_stock})`,
      );
  const afterReconcile = off(input.afterReconcile);
  const atEnd = off(input.final);
  const r = input.reconcile;
  checks.push({
    name: 'Redis = DynamoDB after one reconcile',
    ok: afterReconcile.length === 0 && atEnd.length === 0 && r.failed === 0,
    detail: `reconcile: ${r.restored} restored, ${r.holdsCommitted} holds committed, ${r.holdsReleased} released, ${r.reservationsSettled} reservations settled, ${r.repaired} repaired, ${r.failed} failed${r.skipped ? ', skipped (lease held)' : ''}; ${afterReconcile.length + atEnd.length === 0 ? 'every product agrees' : [...afterReconcile, ...atEnd.map((t) => `at the end ${t}`)].join('; ')}`,
  });

  // Hot deal: every 202 durable, every PENDING confirmable or expired, nothing sold twice, the cap.
  const accepted = exchanges.filter((e) => e.kind === 'order' && e.status === 202);
  const deal: string[] = [];
  const now = Date.now();
  for (const e of input.finalConfirms) {
    const order = e.orderId ? ordersById.get(e.orderId) : undefined;
    const expired = order ? Date.parse(order.expires_at) <= now : false;
    if (!(e.status === 200 || (expired && e.code === 'ORDER_EXPIRED')))
      deal.push(`PENDING order ${e.orderId} not confirmable: ${e.status} ${e.code ?? ''}`);
  }
  const stillPending = input.orders.filter((o) => o.status === 'PENDING' && Date.parse(o.expires_at) > now);
  if (stillPending.length > 0) deal.push(`${stillPending.length} orders still PENDING after their confirm`);
  const dealPurchases = input.durable.filter((p) => p.lines.some((l) => l.product_id === products.deal));
  for (const p of dealPurchases)
    if (ordersById.get(p.id)?.status !== 'CONFIRMED')
      deal.push(`purchase ${p.id} of the deal product has no CONFIRMED order`);
  for (const o of input.orders)
    if (o.status === 'CONFIRMED' && !durableById.has(o.id))
      deal.push(`CONFIRMED order ${o.id} has no purchase row`);
  const perUser = new Map<number, number>();
  for (const o of input.orders)
    if (o.status === 'CONFIRMED') perUser.set(o.user_id, (perUser.get(o.user_id) ?? 0) + o.quantity);
  const overCap = [...perUser].filter(([, units]) => units > products.dealCap);
  if (overCap.length > 0)
    deal.push(
      `${overCap.length} buyers over the cap of ${products.dealCap}: ${overCap
        .slice(0, 3)
        .map(([u, n]) => `user ${u} ${n}`)
        .join(', ')}`,
    );
  const lostOrders = accepted.filter((e) => !ordersById.has(String(e.orderId ?? '')));
  const statusCount = (s: string) => input.orders.filter((o) => o.status === s).length;
  checks.push({
    name: 'every 202 is confirmable or expired, none sold twice',
    ok: deal.length === 0,
    detail: `${accepted.length} orders answered 202 (${lostOrders.length} of them not found by id: ids come from the answer body), ${input.orders.length} in DynamoDB: ${statusCount('CONFIRMED')} confirmed, ${statusCount('CANCELLED')} cancelled, ${statusCount('EXPIRED')} expired, ${input.finalConfirms.length} confirmed at the end; ${deal.length === 0 ? 'cap held' : deal.slice(0, 4).join('; ')}`,
  });

  const rec = recovery(input);
  const fmt = (ms: number | null) => (ms === null ? 'no purchase' : `${(ms / 1000).toFixed(1)} s`);
  checks.push({
    name: `recovery < ${input.recoveryBoundMs / 1000} s`,
    ok: [rec.lockMs, rec.atomicMs].every((ms) => ms !== null && ms < input.recoveryBoundMs),
    detail: `first successful purchase after the fault was cleared: lock ${fmt(rec.lockMs)}, atomic ${fmt(rec.atomicMs)}`,
  });

  const internal = exchanges.filter((e) => e.status === 500);
  checks.push({
    name: 'no 500',
    ok: internal.length === 0,
    detail: `${internal.length} answers were 500${sample(internal.map((e) => `${e.kind} ${e.code ?? ''}`))}`,
  });
  return { checks, recovery: rec };
}

function missingRow(id: number): ProductAudit {
  return {
    product_id: id,
    initial_stock: 0,
    adjusted: 0,
    sold: 0,
    db_stock: 0,
    redis_stock: null,
    held: 0,
    reserved: 0,
    ok: false,
  };
}
