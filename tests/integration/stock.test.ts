import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { holdsKey, stockKey } from '../../shared/stock/index.ts';
import { stack } from '../support/services.ts';

const { redis, stock } = stack();
afterAll(() => redis.quit());

/** Redis's clock in ms, the one every script stamps holds with. */
async function redisMs() {
  const [seconds, micros] = await redis.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

let nextId = 9_000_000;
async function seeded(available: number) {
  const id = nextId++;
  await redis.del(stockKey(id), holdsKey(id));
  expect(await stock.load({ id, stock: available, price: 500, strategy: 'atomic' })).toBe(true);
  return id;
}

describe('RedisStock', () => {
  it('loads live stock only when Redis has none (creation and restore never clobber a live count)', async () => {
    const id = await seeded(10);
    expect(await stock.load({ id, stock: 99, price: 1, strategy: 'lock' })).toBe(false);
    expect(await stock.peek(id)).toEqual({ available: 10, price: 500, strategy: 'atomic', components: [] });
  });

  it('restores a lost count without the units its surviving holds took, and drops an addition mark so its credit cannot add twice', async () => {
    const id = await seeded(10);
    expect(await stock.reserve(id, 3, 'in-flight')).toMatchObject({ status: 'reserved', available: 7 });
    expect(await stock.mark(id, 'adjust-1')).toBe(true);
    // The count is lost, its holds are not; DynamoDB still has the 10 (the held purchase has not
    // written) plus the addition's 5, which landed before the restore read it.
    await redis.del(stockKey(id));
    expect(await stock.load({ id, stock: 15, price: 500, strategy: 'atomic' })).toBe(true);
    expect((await stock.peek(id))?.available).toBe(12);
    // The addition's credit finds no mark: its units are in the restored count already.
    expect(await stock.credit(id, 'adjust-1', 5)).toBe('no-mark');
    expect((await stock.peek(id))?.available).toBe(12);
    // The held purchase lands and commits: 12 + 3 held = 15 − 3 sold, exact.
    await stock.commit(id, 'in-flight');
    expect((await stock.peek(id))?.available).toBe(12);
  });

  it('reserves atomically and records the hold with its quantity and Redis time', async () => {
    const id = await seeded(10);
    const before = await redisMs();
    expect(await stock.reserve(id, 3, 'p1')).toEqual({ status: 'reserved', available: 7 });
    const after = await redisMs();
    const [hold] = await stock.holds(id);
    expect(hold).toMatchObject({ holdId: 'p1', quantity: 3 });
    // Stamped by Redis's clock between the two readings of it, however slow the machine is.
    expect(hold!.heldAt).toBeGreaterThanOrEqual(before);
    expect(hold!.heldAt).toBeLessThanOrEqual(after);
    expect(hold!.ageMs).toBeGreaterThanOrEqual(0);
  });

  it('refuses more than is available without changing anything', async () => {
    const id = await seeded(2);
    expect(await stock.reserve(id, 3, 'p1')).toEqual({ status: 'insufficient', available: 2 });
    expect(await stock.holds(id)).toEqual([]);
    expect((await stock.peek(id))?.available).toBe(2);
  });

  it('says so when Redis has no stock for the product', async () => {
    expect(await stock.reserve(8_999_999, 1, 'p1')).toEqual({ status: 'unknown' });
  });

  // ioredis resends a script whose reply a dropped connection lost; one request per purchase id is
  // the purchase claim's job, so the script's answer to its own hold is success, taken once.
  it('answers a resent reserve with the same hold, taking the units once', async () => {
    const id = await seeded(10);
    await stock.reserve(id, 1, 'same');
    expect(await stock.reserve(id, 1, 'same')).toEqual({ status: 'reserved', available: 9 });
    expect((await stock.peek(id))?.available).toBe(9);
    expect((await stock.holds(id)).map((h) => [h.holdId, h.quantity])).toEqual([['same', 1]]);
  });

  it('commits by dropping the hold, once', async () => {
    const id = await seeded(10);
    await stock.reserve(id, 4, 'p1');
    expect(await stock.commit(id, 'p1')).toBe(true);
    expect(await stock.commit(id, 'p1')).toBe(false);
    expect((await stock.peek(id))?.available).toBe(6);
  });

  it('releases a hold at most once, returning its units with INCRBY', async () => {
    const id = await seeded(10);
    await stock.reserve(id, 4, 'p1');
    const results = await Promise.all(Array.from({ length: 10 }, () => stock.release(id, 'p1')));
    expect(results.filter((r) => r === 'released')).toHaveLength(1);
    expect((await stock.peek(id))?.available).toBe(10);
  });

  it('does not lose concurrent sales while units are released (no read-modify-write)', async () => {
    const id = await seeded(100);
    for (let i = 0; i < 20; i++) await stock.reserve(id, 1, `old-${i}`);
    await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => stock.release(id, `old-${i}`)),
      ...Array.from({ length: 50 }, (_, i) => stock.reserve(id, 1, `new-${i}`)),
    ]);
    expect((await stock.peek(id))?.available).toBe(50);
    expect(await stock.holds(id)).toHaveLength(50);
  });

  it('never sells more than it has to 500 concurrent reservations', async () => {
    const id = await seeded(100);
    const results = await Promise.all(Array.from({ length: 500 }, (_, i) => stock.reserve(id, 1, `c-${i}`)));
    expect(results.filter((r) => r.status === 'reserved')).toHaveLength(100);
    expect((await stock.peek(id))?.available).toBe(0);
  });

  it('does not return units when the stock itself is gone (the reconciler restores from DynamoDB)', async () => {
    const id = await seeded(10);
    await stock.reserve(id, 2, 'p1');
    await redis.del(stockKey(id));
    expect(await stock.release(id, 'p1')).toBe('stock-missing');
    expect(await redis.exists(stockKey(id))).toBe(0);
  });

  it('repairs the live count only when nothing is in flight and nobody changed it meanwhile', async () => {
    const id = await seeded(10);
    await stock.reserve(id, 1, 'inflight');
    expect(await stock.repair(id, 9, 5)).toBe('in-flight');
    await stock.commit(id, 'inflight');
    expect(await stock.repair(id, 8, 5)).toBe('changed');
    expect(await stock.repair(id, 9, 5)).toBe('repaired');
    expect((await stock.peek(id))?.available).toBe(5);
    expect(await stock.repair(8_999_998, 0, 5)).toBe('missing');
  });

  it('ages holds by the Redis clock', async () => {
    const id = await seeded(10);
    await stock.reserve(id, 1, 'aging');
    await sleep(120);
    const [hold] = await stock.holds(id);
    expect(hold!.ageMs).toBeGreaterThanOrEqual(100);
  });

  it('keeps both keys of a product in one cluster hash slot', () => {
    expect(stockKey(42)).toBe('stock:{42}');
    expect(holdsKey(42)).toBe('holds:{42}');
  });
});
