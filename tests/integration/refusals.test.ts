/**
 * A sold-out refusal is the bulk of a flash sale's traffic, so it pays only for the live-store read
 * that decides it: no purchase id, no in-flight slot, no log line of its own beyond the sample. Every
 * refusal is still counted, so refusals stay observable.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { PurchaseGuard, RedisWindows } from '../../shared/limits/index.ts';
import { RedisLock } from '../../shared/lock/index.ts';
import { type EventLog, InsufficientStockError, PurchaseService } from '../../shared/stock/index.ts';
import { unique } from '../support/api.ts';
import { stack } from '../support/services.ts';

const s = stack();
afterAll(() => s.redis.quit());

/** A log that keeps what was written and what was only counted. */
function recordingLog() {
  const written: Record<string, unknown>[] = [];
  const counted: Record<string, unknown>[] = [];
  const log: EventLog = {
    info: (message, fields) => message === 'purchase' && written.push(fields),
    warn: () => undefined,
    error: () => undefined,
    count: (message, fields) => message === 'purchase' && counted.push(fields),
  };
  return { log, written, counted };
}

/** The real per-user limit over the test Redis, telling which purchase ids took a slot. */
function slotRecordingGate() {
  const guard = new PurchaseGuard(new RedisWindows(s.redis, unique('refusals')), {
    inFlightPerUser: 2,
    inFlightTtlMs: 30_000,
  });
  const entered: string[] = [];
  return {
    entered,
    gate: {
      enter: (userId: number, purchaseId: string) => {
        entered.push(purchaseId);
        return guard.enter(userId, purchaseId);
      },
      joinLines: (userId: number, productIds: readonly number[], purchaseId: string) =>
        guard.joinLines(userId, productIds, purchaseId),
    },
  };
}

describe('a sold-out refusal', () => {
  it('mints no purchase id, takes no in-flight slot and writes one line in SOLD_OUT_LOG_EVERY', async () => {
    const soldOut = await s.catalog.create({ name: 'gone', price: 10, stock: 0, strategy: 'atomic' });
    const inStock = await s.catalog.create({ name: 'here', price: 10, stock: 1, strategy: 'atomic' });
    const { log, written, counted } = recordingLog();
    const { gate, entered } = slotRecordingGate();
    const service = new PurchaseService({
      stock: s.stock,
      locks: new RedisLock(s.redis),
      products: s.products,
      purchases: s.purchases,
      log,
      gate,
      soldOutLogEvery: 3,
    });

    for (let i = 0; i < 7; i++) {
      await expect(
        service.purchase({ userId: 41, items: [{ productId: soldOut.id, quantity: 1 }] }),
      ).rejects.toBeInstanceOf(InsufficientStockError);
    }

    // The 1st, 4th and 7th refusal are written, marked with their sampling rate; the rest counted.
    expect(written).toHaveLength(3);
    expect(counted).toHaveLength(4);
    for (const line of [...written, ...counted]) {
      expect(line).toMatchObject({ outcome: 'sold-out', user_id: 41 });
      expect(line).not.toHaveProperty('purchase_id');
    }
    for (const line of written) expect(line.sampled_one_in).toBe(3);
    expect(entered).toEqual([]);

    // A purchase that gets past the check is minted its id, takes a slot and is written in full.
    const bought = await service.purchase({ userId: 41, items: [{ productId: inStock.id, quantity: 1 }] });
    expect(bought.id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(entered).toEqual([bought.id]);
    expect(written.at(-1)).toMatchObject({ outcome: 'purchased', purchase_id: bought.id });
    expect(written.at(-1)).not.toHaveProperty('sampled_one_in');
  });

  it('is written every time with SOLD_OUT_LOG_EVERY=1, as before', async () => {
    const soldOut = await s.catalog.create({ name: 'gone-1', price: 10, stock: 0, strategy: 'lock' });
    const { log, written, counted } = recordingLog();
    const service = new PurchaseService({
      stock: s.stock,
      locks: new RedisLock(s.redis),
      products: s.products,
      purchases: s.purchases,
      log,
      soldOutLogEvery: 1,
    });
    for (let i = 0; i < 3; i++) {
      await expect(
        service.purchase({ userId: 42, items: [{ productId: soldOut.id, quantity: 1 }] }),
      ).rejects.toBeInstanceOf(InsufficientStockError);
    }
    expect(written).toHaveLength(3);
    expect(counted).toHaveLength(0);
  });
});
