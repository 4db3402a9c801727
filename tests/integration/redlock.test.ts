/**
 * Redlock over five independent redis-server processes started here: mutual exclusion, growing
 * fences, and the four scenarios of the specification (nodes down, a partition, clock skew), each
 * on real servers with real failures: killed processes, and TCP proxies that drop every byte.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StartedProcess, startRedisServer } from '../../bin/local/processes.ts';
import {
  driftOf,
  LockNotAcquiredError,
  LockQuorumUnavailableError,
  lockFenceKey,
  lockKey,
  RedisLockNode,
  Redlock,
  type RedlockOptions,
} from '../../shared/lock/index.ts';
import { createLockNode, whenReady } from '../../shared/redis.ts';
import { quietLog, stack } from '../support/services.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

const NODES = 5;
let servers: StartedProcess[] = [];
let clients: Redis[] = [];

const redlockOver = (nodes: readonly Redis[], options: RedlockOptions = {}) =>
  new Redlock(
    nodes.map((client) => new RedisLockNode(client)),
    { ttlMs: 2_000, waitBudgetMs: 2_000, retryDelayMs: 2, maxRetryDelayMs: 20 },
    options,
  );

beforeAll(async () => {
  servers = await Promise.all(Array.from({ length: NODES }, () => startRedisServer()));
  clients = servers.map((s) => createLockNode({ host: '127.0.0.1', port: s.port }));
  await Promise.all(clients.map((c) => whenReady(c, 5_000)));
});

afterAll(async () => {
  for (const client of clients) client.disconnect();
  await Promise.all(servers.map((s) => s.stop()));
});

/**
 * Records every holder's interval, from its grant to the end of its validity or its release,
 * whichever comes first, and names any two that overlap.
 */
class IntervalChecker {
  private readonly intervals: { from: number; to: number; who: string }[] = [];

  record(who: string, from: number, to: number) {
    this.intervals.push({ who, from, to });
  }

  overlaps(): string[] {
    const sorted = [...this.intervals].sort((a, b) => a.from - b.from);
    const found: string[] = [];
    for (let i = 1; i < sorted.length; i++) {
      const [before, after] = [sorted[i - 1], sorted[i]] as const;
      if (after && before && after.from < before.to)
        found.push(`${after.who} from ${after.from} inside ${before.who} until ${before.to}`);
    }
    return found;
  }

  get count() {
    return this.intervals.length;
  }
}

/** `workers` loops of acquire → work inside the validity → release, recorded by `checker`. */
async function contend(locks: Redlock[], resource: string, rounds: number, checker: IntervalChecker) {
  await Promise.all(
    locks.map(async (lock, w) => {
      for (let r = 0; r < rounds; r++) {
        const held = await lock.acquire(resource, { waitBudgetMs: 10_000 });
        const from = Date.now();
        await sleep(1 + Math.random() * 3);
        const to = Math.min(Date.now(), held.validUntil);
        checker.record(`worker ${w} round ${r} (fence ${held.fence})`, from, to);
        await lock.release(held);
      }
    }),
  );
}

describe('Redlock on five healthy nodes', () => {
  it('grants one holder at a time among 8 racing clients and hands out growing fences', async () => {
    const resource = `race-${ulid()}`;
    const checker = new IntervalChecker();
    const fences: number[] = [];
    const racers = Array.from({ length: 8 }, () => redlockOver(clients));
    await Promise.all(
      racers.map(async (lock) => {
        for (let r = 0; r < 10; r++) {
          const held = await lock.acquire(resource, { waitBudgetMs: 20_000 });
          const from = Date.now();
          fences.push(held.fence);
          await sleep(1);
          checker.record(`fence ${held.fence}`, from, Math.min(Date.now(), held.validUntil));
          expect(await lock.release(held)).toBe('released');
        }
      }),
    );
    expect(checker.count).toBe(80);
    expect(checker.overlaps()).toEqual([]);
    // Pushed in grant order (one holder at a time), so strictly increasing and all distinct.
    expect(fences).toEqual([...fences].sort((a, b) => a - b));
    expect(new Set(fences).size).toBe(80);
  });

  it('refuses a second holder while the first holds, and grants it after the release', async () => {
    const resource = `busy-${ulid()}`;
    const [a, b] = [redlockOver(clients), redlockOver(clients)];
    const held = await a.acquire(resource);
    await expect(b.acquire(resource, { waitBudgetMs: 100 })).rejects.toBeInstanceOf(LockNotAcquiredError);
    // The failed attempts gave back what they took: only the holder's token is on the nodes.
    const tokens = await Promise.all(clients.map((c) => c.get(lockKey(resource))));
    expect(tokens).toEqual(Array(NODES).fill(held.token));
    await a.release(held);
    const next = await b.acquire(resource);
    expect(next.fence).toBeGreaterThan(held.fence);
    await b.release(next);
  });

  it('extends by quorum, and never extends a lock that is gone', async () => {
    const lock = redlockOver(clients);
    const resource = `extend-${ulid()}`;
    const held = await lock.acquire(resource, { ttlMs: 300 });
    const extended = await lock.extend(held, 5_000);
    if (extended === 'not-held') throw new Error('not extended');
    expect(extended.validUntil).toBeGreaterThan(held.validUntil + 4_000);
    const ttls = await Promise.all(clients.map((c) => c.pttl(lockKey(resource))));
    expect(Math.min(...ttls)).toBeGreaterThan(4_000);
    await lock.release(extended);
    expect(await lock.extend(extended, 5_000)).toBe('not-held');
  });

  it('keeps fences growing when the next grant wins a different majority', async () => {
    // Node 0's counter is far ahead (a grant the others missed). The first grant wins nodes {0,1,2}
    // (3 and 4 are held by someone else) and records fence 101 there; the next wins {2,3,4} (0 and 1
    // held now) and must read 101 on node 2. Taking the majority's largest counter alone would give 1.
    const resource = `fence-${ulid()}`;
    const lock = redlockOver(clients);
    const occupy = (nodes: number[]) =>
      Promise.all(nodes.map((i) => clients[i]?.set(lockKey(resource), 'someone-else', 'PX', 10_000)));
    const free = (nodes: number[]) => Promise.all(nodes.map((i) => clients[i]?.del(lockKey(resource))));
    await clients[0]?.set(lockFenceKey(resource), 100);
    await occupy([3, 4]);
    const first = await lock.acquire(resource);
    expect(first.fence).toBe(101);
    await lock.release(first);
    await free([3, 4]);
    await occupy([0, 1]);
    const second = await lock.acquire(resource);
    expect(second.fence).toBe(102);
    await lock.release(second);
    await free([0, 1]);
  });
});

describe('Redlock with clocks that disagree', () => {
  /**
   * Every node's clock runs 1% fast: the lock expires on the nodes after 99% of its TTL by the
   * holder's clock. (The servers' clocks cannot be skewed from here; running each node's expiry short
   * by that much, right after the grant, is what a fast clock does to a key.)
   */
  async function fastClocks(resource: string, grantStartedAt: number, ttlMs: number) {
    const expiresIn = Math.floor(ttlMs * 0.99) - (Date.now() - grantStartedAt);
    await Promise.all(clients.map((c) => c.pexpire(lockKey(resource), Math.max(1, expiresIn))));
  }

  async function secondHolderStartsAt(driftFactor: number) {
    // Long enough that 1% of it (20 ms) outlasts a loaded machine's scheduling noise.
    const ttlMs = 2_000;
    const resource = `skew-${ulid()}`;
    const [a, b] = [redlockOver(clients, { driftFactor }), redlockOver(clients, { driftFactor })];
    const held = await a.acquire(resource, { ttlMs });
    // validUntil = start + TTL − drift, so start = validUntil − TTL + drift.
    await fastClocks(resource, held.validUntil - ttlMs + driftOf(ttlMs, driftFactor), ttlMs);
    const next = await b.acquire(resource, {
      ttlMs,
      waitBudgetMs: 5_000,
      retryDelayMs: 1,
      maxRetryDelayMs: 2,
    });
    const grantedAt = Date.now();
    await b.release(next);
    return { firstValidUntil: held.validUntil, grantedAt };
  }

  it('ends the first holder’s validity before fast node clocks free the lock (drift factor 0.01)', async () => {
    const { firstValidUntil, grantedAt } = await secondHolderStartsAt(0.01);
    expect(grantedAt).toBeGreaterThanOrEqual(firstValidUntil);
  });

  it('would let two holders overlap without the drift allowance (the checker can fail)', async () => {
    const { firstValidUntil, grantedAt } = await secondHolderStartsAt(0);
    expect(grantedAt).toBeLessThan(firstValidUntil);
  });

  it('keeps mutual exclusion while two of five nodes jump their clocks forward', async () => {
    const resource = `jump-${ulid()}`;
    const checker = new IntervalChecker();
    let jumping = true;
    // Nodes 3 and 4 jump ahead again and again: their copy of the lock expires at once.
    const jumper = (async () => {
      while (jumping) {
        await Promise.all([clients[3], clients[4]].map((c) => c?.pexpire(lockKey(resource), 1)));
        await sleep(1);
      }
    })();
    await contend(
      Array.from({ length: 6 }, () => redlockOver(clients)),
      resource,
      8,
      checker,
    );
    jumping = false;
    await jumper;
    expect(checker.count).toBe(48);
    expect(checker.overlaps()).toEqual([]);
  });
});

describe('Redlock across a partition', () => {
  let proxies: TcpProxy[][] = [];
  let sides: Redis[][] = [];

  beforeAll(async () => {
    // Two groups of clients, each reaching every node through its own proxy, so the network between
    // one group and one node can be cut without touching the other group.
    proxies = await Promise.all([0, 1].map(() => Promise.all(servers.map((s) => startTcpProxy(s.port)))));
    sides = proxies.map((group) =>
      group.map((p) => createLockNode({ host: '127.0.0.1', port: p.port }, { commandTimeout: 500 })),
    );
    await Promise.all(sides.flat().map((c) => whenReady(c, 5_000)));
  });

  afterAll(async () => {
    for (const c of sides.flat()) c.disconnect();
    await Promise.all(proxies.flat().map((p) => p.close()));
  });

  it('grants locks only on the majority side (3 nodes), never on the minority side (2 nodes)', async () => {
    const [minorityProxies, majorityProxies] = proxies as [TcpProxy[], TcpProxy[]];
    // The minority side loses nodes 2, 3, 4; the majority side loses nodes 0, 1.
    for (const i of [2, 3, 4]) minorityProxies[i]?.blackhole();
    for (const i of [0, 1]) majorityProxies[i]?.blackhole();
    const resource = `partition-${ulid()}`;
    const minority = Array.from({ length: 3 }, () => redlockOver(sides[0] as Redis[]));
    const majority = Array.from({ length: 3 }, () => redlockOver(sides[1] as Redis[]));
    const granted = { minority: 0, majority: 0, refused: 0 };
    await Promise.all([
      ...minority.map(async (lock) => {
        for (let r = 0; r < 5; r++) {
          const outcome = await lock.acquire(resource, { waitBudgetMs: 300 }).catch((e: unknown) => e);
          if (outcome instanceof LockNotAcquiredError) granted.refused += 1;
          else granted.minority += 1;
        }
      }),
      ...majority.map(async (lock) => {
        for (let r = 0; r < 5; r++) {
          const held = await lock.acquire(resource, { waitBudgetMs: 10_000 });
          granted.majority += 1;
          await lock.release(held);
        }
      }),
    ]);
    expect(granted).toEqual({ minority: 0, majority: 15, refused: 15 });
    for (const p of proxies.flat()) p.heal();
  });
});

describe('Redlock with nodes down', () => {
  it('grants locks and sells exactly with 2 of 5 nodes killed, and refuses cleanly with 3 killed', async () => {
    const lock = redlockOver(clients);
    const services = stack({ locks: lock });
    try {
      await servers[0]?.stop();
      await servers[1]?.stop();
      const held = await lock.acquire(`down-${ulid()}`);
      expect(held.fence).toBeGreaterThan(0);
      await lock.release(held);

      const product = await services.catalog.create({
        name: `p-${ulid()}`,
        price: 10,
        stock: 10,
        strategy: 'lock',
      });
      const replies = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          services.purchaseService.purchase({
            userId: i + 1,
            items: [{ productId: product.id, quantity: 1 }],
          }),
        ),
      );
      expect(replies.filter((r) => r.status === 'fulfilled')).toHaveLength(10);
      expect((await services.products.get(product.id, true))?.stock).toBe(0);
      expect((await services.stock.peek(product.id))?.available).toBe(0);

      await servers[2]?.stop();
      const started = performance.now();
      await expect(lock.acquire(`down-${ulid()}`, { waitBudgetMs: 10_000 })).rejects.toBeInstanceOf(
        LockQuorumUnavailableError,
      );
      // A clear answer at once, not after the wait budget.
      expect(performance.now() - started).toBeLessThan(2_000);

      const other = await services.catalog.create({
        name: `p-${ulid()}`,
        price: 10,
        stock: 5,
        strategy: 'lock',
      });
      const refused = await services.purchaseService
        .purchase({ userId: 1, items: [{ productId: other.id, quantity: 1 }] })
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(LockQuorumUnavailableError);
      expect((await services.products.get(other.id, true))?.stock).toBe(5);
      expect((await services.stock.peek(other.id))?.available).toBe(5);
      expect(await services.stock.holds(other.id)).toEqual([]);
      expect(quietLog.lines.some((l) => l.fields.outcome === 'lock-conflict')).toBe(true);
    } finally {
      await services.redis.quit();
    }
  });
});
