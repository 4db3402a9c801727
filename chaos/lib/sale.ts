/**
 * One scenario: a sale on fresh products (a `lock` and an `atomic` product, a two-product cart, a
 * hot deal, and a large-stock probe product of each strategy), one fault injected in the middle,
 * then the ledger judged after exactly one reconcile.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type Exchange, probe, Recorder } from './crowd.ts';
import type { Fault } from './faults.ts';
import {
  allProducts,
  type Backstage,
  type Check,
  confirmPending,
  judge,
  type Recovery,
  resolveUnsettled,
  type SaleProducts,
} from './ledger.ts';
import { type ChaosStack, FUNCTION_TIMEOUT_MS, HOLD_STALE_AFTER_MS } from './stack.ts';

export interface SaleSize {
  /** Units of the lock product and of the atomic product. */
  readonly units: number;
  /** Buyers of each of them. */
  readonly buyers: number;
  readonly cartUnits: number;
  readonly cartBuyers: number;
  readonly dealUnits: number;
  readonly dealBuyers: number;
  /** Buyers arrive at random over this window. */
  readonly arrivalMs: number;
  readonly faultAtMs: number;
  /** A buyer stops retrying this long after its first request. */
  readonly giveUpMs: number;
}

/**
 * Sized for a 2-core machine shared with other work, where the local runtime completes about 10
 * purchases a second: the units that must be sold (each a DynamoDB transaction) arrive at about 8 a
 * second, so what the verdict sees is the fault's doing, not a queue that never drains. Most of the
 * crowd is refused sold out, which costs Redis only.
 */
export const FULL: SaleSize = {
  units: 100,
  buyers: 200,
  cartUnits: 20,
  cartBuyers: 40,
  dealUnits: 30,
  dealBuyers: 60,
  arrivalMs: 35_000,
  faultAtMs: 8_000,
  giveUpMs: 25_000,
};

export const SHORT: SaleSize = {
  units: 20,
  buyers: 40,
  cartUnits: 8,
  cartBuyers: 16,
  dealUnits: 12,
  dealBuyers: 24,
  arrivalMs: 8_000,
  faultAtMs: 2_000,
  giveUpMs: 15_000,
};

/**
 * One buyer may buy in several places (the lock product, the atomic one, the cart, the deal), each
 * at its own random time with its own key; two more users run the probes.
 */
export const usersNeeded = (size: SaleSize) => Math.max(size.buyers, size.cartBuyers, size.dealBuyers) + 2;

const DEAL_CAP = 2;
const RESERVATION_TTL_SECONDS = 120;
export const RECOVERY_BOUND_MS = 30_000;
/** Longer than the function timeout: every request gets an answer (503 FUNCTION_TIMEOUT at worst). */
const CLIENT_TIMEOUT_MS = FUNCTION_TIMEOUT_MS + 1_500;

export interface ScenarioResult {
  readonly fault: Fault;
  readonly size: SaleSize;
  readonly products: SaleProducts;
  readonly startedAt: number;
  readonly faultStartedAt: number;
  readonly clearedAt: number;
  readonly saleEndedAt: number;
  readonly notes: readonly { at: number; line: string }[];
  readonly exchanges: readonly Exchange[];
  readonly checks: readonly Check[];
  readonly recovery: Recovery;
  readonly resent: number;
  readonly passed: boolean;
  readonly durationMs: number;
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

export async function runScenario(
  stack: ChaosStack,
  backstage: Backstage,
  fault: Fault,
  size: SaleSize,
  say: (line: string) => void,
): Promise<ScenarioResult> {
  const begun = Date.now();
  await stack.useService(fault.profile);
  await stack.ensureUsers(usersNeeded(size));
  const tag = `${fault.name}-${Date.now().toString(36)}`;
  const [lock, atomic, cartA, cartB, deal, probeLock, probeAtomic] = await Promise.all([
    stack.createProduct(`${tag} lock`, size.units, 'lock'),
    stack.createProduct(`${tag} atomic`, size.units, 'atomic'),
    stack.createProduct(`${tag} cart lock`, size.cartUnits, 'lock'),
    stack.createProduct(`${tag} cart atomic`, size.cartUnits, 'atomic'),
    stack.createProduct(`${tag} deal`, size.dealUnits, 'atomic'),
    stack.createProduct(`${tag} probe lock`, 100_000, 'lock'),
    stack.createProduct(`${tag} probe atomic`, 100_000, 'atomic'),
  ]);
  await stack.startHotDeal(deal, DEAL_CAP, RESERVATION_TTL_SECONDS);
  const products: SaleProducts = {
    lock,
    atomic,
    cart: [cartA, cartB],
    deal,
    probes: { lock: probeLock, atomic: probeAtomic },
    dealCap: DEAL_CAP,
  };
  await fault.setup?.(stack);

  const recorder = new Recorder(stack, { clientTimeoutMs: CLIENT_TIMEOUT_MS, giveUpMs: size.giveUpMs });
  const [probeLockUser, probeAtomicUser, ...crowdUsers] = shuffle([...stack.users]);
  if (!probeLockUser || !probeAtomicUser || crowdUsers.length < usersNeeded(size) - 2)
    throw new Error('not enough buyers');
  const probeUsers = { lock: probeLockUser, atomic: probeAtomicUser };
  let turn = 0;
  const take = () => {
    const user = crowdUsers[turn++ % crowdUsers.length];
    if (!user) throw new Error('not enough buyers');
    return user;
  };
  const notes: { at: number; line: string }[] = [];
  const note = (line: string) => {
    notes.push({ at: Date.now(), line });
    say(`  ${line}`);
  };

  type Job = { at: number; run: () => Promise<void> };
  const jobs: Job[] = [];
  const at = () => Math.random() * size.arrivalMs;
  for (const [productId, strategy] of [
    [lock, 'lock'],
    [atomic, 'atomic'],
  ] as const) {
    turn = 0;
    for (let i = 0; i < size.buyers; i++) {
      const user = take();
      const quantity = Math.random() < 0.1 ? 2 : 1;
      jobs.push({
        at: at(),
        run: () =>
          recorder.purchase({
            kind: 'purchase',
            key: `${tag}-${strategy}-${i}`,
            user,
            lines: [{ product_id: productId, quantity }],
          }),
      });
    }
  }
  for (let i = 0; i < size.cartBuyers; i++) {
    turn = i;
    const user = take();
    jobs.push({
      at: at(),
      run: () =>
        recorder.purchase({
          kind: 'purchase',
          key: `${tag}-cart-${i}`,
          user,
          lines: [
            { product_id: cartA, quantity: 1 },
            { product_id: cartB, quantity: 1 },
          ],
        }),
    });
  }
  for (let i = 0; i < size.dealBuyers; i++) {
    const user = crowdUsers[i % crowdUsers.length] as (typeof crowdUsers)[number];
    const greedy = Math.random() < 0.1;
    const r = Math.random();
    const choice = r < 0.7 ? 'confirm' : r < 0.85 ? 'cancel' : 'leave';
    jobs.push({ at: at(), run: () => recorder.hotDeal(user, deal, greedy ? 3 : 1, choice) });
  }

  // Warm every purchase worker first (a cold start under a stampede is not the fault under test).
  await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      recorder.purchase({
        kind: 'probe',
        key: `${tag}-warm-${i}`,
        user: i % 2 === 0 ? probeLockUser : probeAtomicUser,
        lines: [{ product_id: i % 2 === 0 ? probeLock : probeAtomic, quantity: 1 }],
      }),
    ),
  );

  const startedAt = Date.now();
  say(`  sale: ${jobs.length} buyers over ${size.arrivalMs / 1000} s, fault at ${size.faultAtMs / 1000} s`);
  let crowdDone = false;
  let faultStartedAt = Number.POSITIVE_INFINITY;
  let clearedAt = Number.POSITIVE_INFINITY;
  const recovered = () => {
    const cleared = recorder.exchanges.filter(
      (e) => e.kind === 'probe' && e.status === 200 && e.sentAt >= clearedAt,
    );
    return (
      cleared.some((e) => e.lines?.[0]?.product_id === probeLock) &&
      cleared.some((e) => e.lines?.[0]?.product_id === probeAtomic)
    );
  };
  const stopProbes = () =>
    crowdDone && Date.now() > clearedAt && (recovered() || Date.now() > clearedAt + RECOVERY_BOUND_MS);
  const probes = Promise.all([
    probe(recorder, probeUsers.lock, probeLock, tag, 200, stopProbes),
    probe(recorder, probeUsers.atomic, probeAtomic, tag, 200, stopProbes),
  ]);
  const crowd = Promise.all(
    jobs.map(async (job) => {
      await sleep(job.at);
      await job.run();
    }),
  ).finally(() => {
    crowdDone = true;
  });
  const faulted = (async () => {
    await sleep(size.faultAtMs);
    faultStartedAt = Date.now();
    note(`fault: ${fault.title}`);
    try {
      await fault.inject(stack, note);
    } finally {
      clearedAt = Date.now();
      note('fault cleared');
    }
  })();
  await Promise.all([crowd, faulted, probes]);
  const saleEndedAt = Date.now();

  // A hold belongs to a request answered by now (every request is answered: the client waits longer
  // than the function timeout); once it is older than HOLD_STALE_AFTER_MS the reconciler may settle it.
  const lastAnswer = Math.max(...recorder.exchanges.map((e) => e.answeredAt));
  const settle = lastAnswer + HOLD_STALE_AFTER_MS + 500 - Date.now();
  if (settle > 0) await sleep(settle);
  say(
    `  sale over after ${((saleEndedAt - startedAt) / 1000).toFixed(1)} s; holds stale after ${((Date.now() - saleEndedAt) / 1000).toFixed(1)} s more`,
  );

  const reconcile = await backstage.reconcileOnce();
  const afterReconcile = await backstage.audit();
  const resent = await resolveUnsettled(recorder, stack);
  const pending = (await backstage.orders(deal)).filter((o) => o.status === 'PENDING');
  const finalConfirms = await confirmPending(recorder, stack, pending);
  const [orders, durable, final] = await Promise.all([
    backstage.orders(deal),
    backstage.durable(allProducts(products)),
    backstage.audit(),
  ]);
  const { checks, recovery } = judge({
    products,
    exchanges: recorder.exchanges,
    reconcile,
    afterReconcile,
    final,
    durable,
    orders,
    finalConfirms,
    clearedAt,
    recoveryBoundMs: RECOVERY_BOUND_MS,
  });
  await fault.teardown?.(stack);
  say(`  checked ${((Date.now() - saleEndedAt) / 1000).toFixed(1)} s after the sale`);
  return {
    fault,
    size,
    products,
    startedAt,
    faultStartedAt,
    clearedAt,
    saleEndedAt,
    notes,
    exchanges: recorder.exchanges,
    checks,
    recovery,
    resent,
    passed: checks.every((c) => c.ok),
    durationMs: Date.now() - begun,
  };
}
