/**
 * RedisStock over several connections to one Redis (REDIS_CONNECTIONS): commands take turns on the
 * connections, and nothing about the stock changes. Racing buyers still get exactly the units there
 * are, and each buyer's own steps (reserve, then commit or release) keep their order although they
 * may travel on different connections.
 */
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { holdsKey, RedisStock, stockKey } from '../../shared/stock/index.ts';
import { stack } from '../support/services.ts';

const redis = stack().redis as Redis;
const second = redis.duplicate();
afterAll(async () => {
  second.disconnect();
  await redis.quit();
});

let nextId = 9_400_000 + Math.floor(Math.random() * 10_000) * 10;
async function seeded(stock: RedisStock, available: number) {
  const id = nextId++;
  await redis.del(stockKey(id), holdsKey(id));
  expect(await stock.load({ id, stock: available, price: 500, strategy: 'atomic' })).toBe(true);
  return id;
}

/** How many commands each connection sent while `run` ran. */
async function commandsPerConnection(connections: readonly Redis[], run: () => Promise<void>) {
  const spies = connections.map((c) => vi.spyOn(c, 'sendCommand'));
  try {
    await run();
    return spies.map((s) => s.mock.calls.length);
  } finally {
    for (const s of spies) s.mockRestore();
  }
}

describe('RedisStock over two connections', () => {
  it('sells exactly the 100 units to 300 racing buyers, and both connections carry the commands', async () => {
    const stock = new RedisStock([redis, second]);
    const id = await seeded(stock, 100);
    let results: Awaited<ReturnType<RedisStock['reserve']>>[] = [];
    const sent = await commandsPerConnection([redis, second], async () => {
      results = await Promise.all(Array.from({ length: 300 }, (_, i) => stock.reserve(id, 1, `buyer-${i}`)));
    });
    expect(results.filter((r) => r.status === 'reserved')).toHaveLength(100);
    expect(results.filter((r) => r.status === 'insufficient')).toHaveLength(200);
    expect((await stock.peek(id))?.available).toBe(0);
    expect(await stock.holds(id)).toHaveLength(100);
    expect(sent[0]).toBeGreaterThanOrEqual(100);
    expect(sent[1]).toBeGreaterThanOrEqual(100);
  });

  it("keeps each buyer's steps in order: every release returns its units, every commit keeps them sold", async () => {
    const stock = new RedisStock([redis, second]);
    const id = await seeded(stock, 60);
    // 120 buyers: each reserves, then half commit and half release, all racing one another.
    const outcomes = await Promise.all(
      Array.from({ length: 120 }, async (_, i) => {
        const held = await stock.reserve(id, 1, `b-${i}`);
        if (held.status !== 'reserved') return 'refused';
        if (i % 2 === 0) {
          await stock.commit(id, `b-${i}`);
          return 'sold';
        }
        expect(await stock.release(id, `b-${i}`)).toBe('released');
        return 'released';
      }),
    );
    const sold = outcomes.filter((o) => o === 'sold').length;
    expect(sold).toBeGreaterThan(0);
    expect(await stock.holds(id)).toHaveLength(0);
    expect((await stock.peek(id))?.available).toBe(60 - sold);
  });
});
