/**
 * The verdict's logic on data the test makes up (no stack): the order "judge, then repair", the
 * repair count, the wait for holds in flight, and first-come-first-served with its tolerance.
 */
import { describe, expect, it } from 'vitest';
import type { Attempt } from '../../load/lib/events.ts';
import type { Api } from '../../load/lib/local.ts';
import {
  type AuditRow,
  type DurablePurchase,
  fairness,
  type Reconciliation,
  type Repairs,
  verify,
} from '../../load/lib/verify.ts';

const PRODUCT = 7;

/** A product of 2 units, both sold; override what the case is about. */
const row = (over: Partial<AuditRow> = {}): AuditRow => ({
  product_id: PRODUCT,
  initial_stock: 2,
  sold: 2,
  db_stock: 0,
  redis_stock: 0,
  held: 0,
  reserved: 0,
  ok: true,
  ...over,
});

let next = 0;
const attempt = (over: Partial<Attempt> & Pick<Attempt, 'sentAt' | 'status'>): Attempt => {
  next += 1;
  return {
    id: `a${next}`,
    userId: next,
    productId: PRODUCT,
    quantity: 1,
    ms: 10,
    ...(over.status === 200 && { purchaseId: `p${next}` }),
    ...(over.status === 400 && { code: 'INSUFFICIENT_STOCK' }),
    ...over,
  };
};

const noRepairs: Repairs = {
  restored: 0,
  holdsCommitted: 0,
  holdsReleased: 0,
  reservationsSettled: 0,
  repaired: 0,
};

/** The audit answers `looks` in turn (the last one again and again), as the admin audit would. */
function auditApi(looks: AuditRow[][]): Api & { calls: number } {
  const fake = {
    url: 'http://fake',
    calls: 0,
    async call(_method: string, path: string) {
      if (path !== '/api/admin/inventory/verify') throw new Error(`unexpected ${path}`);
      const rows = looks[Math.min(fake.calls, looks.length - 1)];
      fake.calls += 1;
      return { status: 200, body: { consistent: true, products: rows }, ms: 1 };
    },
  };
  return fake;
}

async function judge(options: {
  looks: AuditRow[][];
  attempts: Attempt[];
  repairs?: Repairs | null;
  fault?: string;
  fcfs?: 'judged' | 'reported';
  holdSettleMs?: number;
}) {
  const purchases: DurablePurchase[] = options.attempts
    .filter((a) => a.status === 200)
    .map((a) => ({
      id: a.purchaseId as string,
      user_id: a.userId,
      lines: [{ product_id: a.productId, quantity: a.quantity }],
    }));
  const order: string[] = [];
  const client = auditApi(options.looks);
  const verdict = await verify({
    client,
    adminToken: 'admin',
    productIds: [PRODUCT],
    attempts: options.attempts,
    source: { name: 'fake', list: async () => ({ purchases, complete: true }) },
    reconcile: async (): Promise<Reconciliation> => {
      order.push(`reconcile after ${client.calls} audits`);
      return { summary: 'one pass', repairs: options.repairs === undefined ? noRepairs : options.repairs };
    },
    holdSettleMs: options.holdSettleMs ?? 1_000,
    pollMs: 5,
    fcfs: options.fcfs ?? 'judged',
    fault: options.fault,
  });
  const check = (name: string) => verdict.checks.filter((c) => c.name === name);
  return { verdict, order, check };
}

const soldOut = () => [attempt({ sentAt: 0, status: 200 }), attempt({ sentAt: 1, status: 200 })];

describe('the verdict judges the data before any repair', () => {
  it('fails a run whose Redis drifted above DynamoDB, although the reconcile would have repaired it', async () => {
    const { verdict, order, check } = await judge({
      looks: [[row({ redis_stock: 3 })], [row()]],
      attempts: soldOut(),
      repairs: { ...noRepairs, repaired: 1 },
    });

    expect(order).toEqual(['reconcile after 1 audits']);
    expect(verdict.preRepair.agreed).toBe(false);
    expect(check('Redis = DynamoDB before any repair').map((c) => c.ok)).toEqual([false]);
    expect(check('the reconcile repaired nothing').map((c) => c.ok)).toEqual([false]);
    expect(check('Redis stock = DynamoDB stock after the reconcile').map((c) => c.ok)).toEqual([true]);
    expect(verdict.passed).toBe(false);
  });

  it('fails a run whose reconcile had anything to repair, even when the first look balanced', async () => {
    const { verdict, check } = await judge({
      looks: [[row()]],
      attempts: soldOut(),
      repairs: { ...noRepairs, holdsReleased: 1 },
    });

    expect(check('Redis = DynamoDB before any repair').map((c) => c.ok)).toEqual([true]);
    expect(check('the reconcile repaired nothing')[0]?.detail).toContain('1 released');
    expect(verdict.passed).toBe(false);
  });

  it('reports, not judges, the drift and the repairs of a scenario that declares the fault it injects', async () => {
    const { verdict, check } = await judge({
      looks: [[row({ redis_stock: null })], [row()]],
      attempts: soldOut(),
      repairs: { ...noRepairs, restored: 1 },
      fault: 'Redis flushed mid-sale',
    });

    expect(verdict.preRepair.agreed).toBe(false);
    expect(verdict.repairs?.restored).toBe(1);
    expect(check('Redis = DynamoDB before any repair')[0]?.detail).toContain('reported, not judged');
    expect(verdict.passed).toBe(true);
  });

  it('waits for holds in flight to settle by themselves, and judges the look without holds', async () => {
    // In flight: the durable write is visible (DynamoDB 0), the hold not yet committed.
    const inFlight = row({ held: 1, redis_stock: 0, db_stock: 0 });
    const { verdict, check } = await judge({ looks: [[inFlight], [inFlight], [row()]], attempts: soldOut() });

    expect(verdict.preRepair.firstLook[0]).toMatchObject({ held: 1, balanced: false });
    expect(verdict.preRepair.judged[0]).toMatchObject({ held: 0, balanced: true });
    expect(verdict.preRepair.waitedMs).toBeGreaterThan(0);
    expect(check('Redis = DynamoDB before any repair')[0]?.detail).toContain('first look');
    expect(verdict.passed).toBe(true);
  });

  it('fails a run that leaves a hold behind past the bound', async () => {
    const stuck = row({ held: 1, redis_stock: 0, db_stock: 1, sold: 1 });
    const { verdict } = await judge({
      looks: [[stuck]],
      attempts: [attempt({ sentAt: 0, status: 200 })],
      holdSettleMs: 30,
    });

    expect(verdict.preRepair.holdsLeft).toBe(1);
    expect(verdict.preRepair.agreed).toBe(false);
    expect(verdict.passed).toBe(false);
  });

  it('accepts an unobservable reconcile (a deployed stage) only when the data agreed before it', async () => {
    const agreed = await judge({ looks: [[row()]], attempts: soldOut(), repairs: null });
    const drifted = await judge({ looks: [[row({ redis_stock: 1 })]], attempts: soldOut(), repairs: null });

    expect(agreed.check('the reconcile repaired nothing').map((c) => c.ok)).toEqual([true]);
    expect(drifted.check('the reconcile repaired nothing').map((c) => c.ok)).toEqual([false]);
  });
});

describe('first come, first served', () => {
  it('counts a sale to a buyer sent after an earlier buyer was already answered sold out as out of turn', () => {
    const refused = attempt({ sentAt: 100, status: 400, ms: 20 });
    const later = attempt({ sentAt: 125, status: 200 });

    const fair = fairness([refused, later]);

    expect(fair).toMatchObject({ refused: 1, overtaken: 1, maxLeadMs: 25, violations: 1 });
    expect(fair.examples[0]).toContain(refused.id);
  });

  it("tolerates a later buyer's sale sent while the earlier buyer's refusal was still on its way", () => {
    const fair = fairness([
      attempt({ sentAt: 100, status: 400, ms: 20 }),
      attempt({ sentAt: 119, status: 200 }),
    ]);

    expect(fair).toMatchObject({ overtaken: 1, maxLeadMs: 19, violations: 0 });
  });

  it('does not count a later sale of fewer units than a refused buyer asked for', () => {
    const fair = fairness([
      attempt({ sentAt: 100, status: 400, ms: 5, quantity: 2 }),
      attempt({ sentAt: 500, status: 200, quantity: 1 }),
    ]);

    expect(fair).toMatchObject({ refused: 1, overtaken: 0, violations: 0 });
  });

  it('ignores refusals that are not sold out (a 409 lock conflict is no place in line lost)', () => {
    const conflict = attempt({ sentAt: 100, status: 409, ms: 5, code: 'LOCK_CONFLICT' });

    expect(fairness([conflict, attempt({ sentAt: 500, status: 200 })]).refused).toBe(0);
  });

  it('fails the verdict on a sale out of turn where the scenario judges FCFS, and only reports it elsewhere', async () => {
    const attempts = [
      attempt({ sentAt: 0, status: 200 }),
      attempt({ sentAt: 10, status: 400, ms: 5 }),
      attempt({ sentAt: 50, status: 200 }),
    ];

    const judged = await judge({ looks: [[row()]], attempts });
    const reported = await judge({ looks: [[row()]], attempts, fcfs: 'reported' });

    expect(judged.check('first come, first served').map((c) => c.ok)).toEqual([false]);
    expect(judged.verdict.passed).toBe(false);
    expect(reported.check('first come, first served')).toEqual([]);
    expect(reported.verdict.fcfs).toMatchObject({ judged: false, violations: 1 });
    expect(reported.verdict.passed).toBe(true);
  });
});

describe('no 409 while stock remained', () => {
  const conflict = (sentAt: number) => ({ ...attempt({ sentAt, status: 409 }), code: 'LOCK_CONFLICT' });

  it('fails a lock conflict answered before the last unit was sold', async () => {
    const attempts = [attempt({ sentAt: 0, status: 200 }), conflict(5), attempt({ sentAt: 30, status: 200 })];
    const { check, verdict } = await judge({ looks: [[row()]], attempts });
    expect(check('no 409 while stock remained').map((c) => c.ok)).toEqual([false]);
    expect(verdict.passed).toBe(false);
  });

  it('fails any lock conflict on a product that never sold out', async () => {
    const attempts = [attempt({ sentAt: 0, status: 200 }), conflict(50)];
    const looks = [[row({ sold: 1, db_stock: 1, redis_stock: 1 })]];
    const { check } = await judge({ looks, attempts });
    expect(check('no 409 while stock remained').map((c) => c.ok)).toEqual([false]);
  });

  it('accepts a lock conflict answered after the stock was gone', async () => {
    const attempts = [...soldOut(), conflict(40)];
    const { check, verdict } = await judge({ looks: [[row()]], attempts });
    expect(check('no 409 while stock remained').map((c) => c.ok)).toEqual([true]);
    expect(verdict.passed).toBe(true);
  });
});
