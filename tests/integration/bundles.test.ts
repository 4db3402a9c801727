import { setTimeout as sleep } from 'node:timers/promises';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDocumentClient, ProductRepository, PurchaseRepository } from '../../shared/db/index.ts';
import { lockKey, lockQueueKey, RedisLock, withLocks } from '../../shared/lock/index.ts';
import type { StockLine } from '../../shared/model.ts';
import {
  InsufficientStockError,
  PurchaseNotRecordedError,
  PurchaseService,
  purchaseIdFor,
  RedisStock,
} from '../../shared/stock/index.ts';
import { countStatuses, type Reply, startTestApi, type TestApi, unique } from '../support/api.ts';
import { breakOperations, dynamo, quietLog, refusal, stack } from '../support/services.ts';

let api: TestApi;
const healthy = stack();
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api.close();
  await healthy.redis.quit();
});

const cart = (token: string, items: [number, number][], headers: Record<string, string> = {}) =>
  api.request('POST', '/api/purchases', {
    token,
    headers,
    body: { items: items.map(([product_id, quantity]) => ({ product_id, quantity })) },
  });

async function audit(productIds: number[]) {
  const reply = await api.request('GET', '/api/admin/inventory/verify', { token: await api.admin() });
  return reply.body.products.filter((p: { product_id: number }) => productIds.includes(p.product_id));
}

const pickDistinct = (ids: number[], count: number) =>
  [...ids].sort(() => Math.random() - 0.5).slice(0, count);

describe.each(['lock', 'atomic'] as const)('carts (%s strategy)', (strategy) => {
  it('sells 10 products × 100 units to 100 buyers of 2–3 random products each: sold + remaining = 100 for every product', async () => {
    const products = await Promise.all(Array.from({ length: 10 }, () => api.product(100, { strategy })));
    const ids = products.map((p) => p.id);
    // Registered 20 at a time: the buyers are the setup, the carts below are the stampede.
    const buyers = [];
    for (let i = 0; i < 100; i += 20)
      buyers.push(...(await Promise.all(Array.from({ length: 20 }, () => api.user('cart')))));
    // Four waves of 25 carts at once: each wave races on the same 10 products, and each request's
    // lock wait stays well inside the 10 s the local gateway gives a function (as Lambda would), also
    // on a loaded 2-core machine, where 100 at once queued some carts past it (a 500).
    const replies: Reply[] = [];
    for (let i = 0; i < buyers.length; i += 25) {
      const wave = buyers.slice(i, i + 25).map((b) =>
        cart(
          b.token,
          pickDistinct(ids, 2 + Math.floor(Math.random() * 2)).map((id) => [
            id,
            1 + Math.floor(Math.random() * 3),
          ]),
        ),
      );
      replies.push(...(await Promise.all(wave)));
    }
    expect(replies).toHaveLength(100);
    expect(Object.keys(countStatuses(replies)).filter((s) => s !== '200' && s !== '400')).toEqual([]);

    const sold = new Map<number, number>(ids.map((id) => [id, 0]));
    for (const r of replies.filter((r) => r.status === 200)) {
      for (const item of r.body.items)
        sold.set(item.product_id, (sold.get(item.product_id) ?? 0) + item.quantity);
    }
    const rows = await audit(ids);
    expect(rows.map((r: { product_id: number }) => r.product_id)).toEqual([...ids].sort((x, y) => x - y));
    for (const row of rows) {
      expect(row.ok).toBe(true);
      expect(row.sold).toBe(sold.get(row.product_id));
      expect(row.sold + row.db_stock).toBe(100);
      expect(row.redis_stock).toBe(row.db_stock);
    }
  }, 180_000);

  it('refuses an A+B+C cart with B sold out as a whole, naming B, and leaves A and C untouched', async () => {
    const [a, b, c] = await Promise.all([
      api.product(5, { strategy }),
      api.product(1, { strategy }),
      api.product(5, { strategy }),
    ]);
    const buyer = await api.user();
    expect((await cart(buyer.token, [[b!.id, 1]])).status).toBe(200);

    const reply = await cart(buyer.token, [
      [a!.id, 1],
      [b!.id, 1],
      [c!.id, 1],
    ]);
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({
      code: 'INSUFFICIENT_STOCK',
      product_id: b!.id,
      shortages: [{ product_id: b!.id, available: 0 }],
    });
    const rows = await audit([a!.id, c!.id]);
    expect(
      rows.map((r: { db_stock: number; redis_stock: number; held: number }) => [
        r.db_stock,
        r.redis_stock,
        r.held,
      ]),
    ).toEqual([
      [5, 5, 0],
      [5, 5, 0],
    ]);
  });
});

describe('cart requests', () => {
  it('answers one purchase with its lines and total, and /purchases/me shows it whole', async () => {
    const [a, b] = await Promise.all([api.product(10, { price: 1000 }), api.product(10, { price: 250 })]);
    const buyer = await api.user();
    const reply = await cart(buyer.token, [
      [a.id, 2],
      [b.id, 4],
    ]);
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({
      id: expect.any(String),
      items: [
        { product_id: a.id, quantity: 2, unit_price: 1000, total_price: 2000 },
        { product_id: b.id, quantity: 4, unit_price: 250, total_price: 1000 },
      ],
      total_price: 3000,
      purchased_at: expect.any(String),
    });
    const mine = await api.request('GET', '/api/purchases/me', { token: buyer.token });
    expect(mine.body).toEqual([reply.body]);
  });

  it('refuses repeated products in a cart with 422 naming items', async () => {
    const a = await api.product(10);
    const buyer = await api.user();
    const reply = await cart(buyer.token, [
      [a.id, 1],
      [a.id, 2],
    ]);
    expect(reply.status).toBe(422);
    expect(reply.body.detail).toContain('body.items');
  });

  it('makes a retried cart with the same Idempotency-Key one purchase', async () => {
    const [a, b] = await Promise.all([api.product(10), api.product(10)]);
    const buyer = await api.user();
    const headers = { 'idempotency-key': unique('cart') };
    const items: [number, number][] = [
      [a.id, 1],
      [b.id, 2],
    ];
    const replies = await Promise.all(Array.from({ length: 10 }, () => cart(buyer.token, items, headers)));
    const ok = replies.filter((r) => r.status === 200);
    expect(new Set(ok.map((r) => r.body.id)).size).toBe(1);
    const again = await cart(buyer.token, [...items].reverse(), headers); // order does not matter
    expect(again.body.id).toBe(ok[0]?.body.id);
    const sold = new Map(
      (await audit([a.id, b.id])).map((r: { product_id: number; sold: number }) => [r.product_id, r.sold]),
    );
    expect([sold.get(a.id), sold.get(b.id)]).toEqual([1, 2]);
  });
});

describe('bundle products', () => {
  async function bundleOf(
    components: { id: number }[],
    stock: number,
    price = 9000,
    strategy?: 'lock' | 'atomic',
  ) {
    return api.request('POST', '/api/products', {
      token: await api.admin(),
      body: {
        name: unique('set'),
        price,
        stock,
        ...(strategy && { strategy }),
        components: components.map((c) => ({ product_id: c.id, quantity: 1 })),
      },
    });
  }

  it.each(['lock', 'atomic'] as const)(
    'takes every component with the set, all or nothing (%s)',
    async (strategy) => {
      const [a, b, c] = await Promise.all([
        api.product(10, { strategy }),
        api.product(2, { strategy }),
        api.product(10, { strategy }),
      ]);
      const set = await bundleOf([a, b, c], 5, 9000, strategy);
      expect(set.status).toBe(201);
      expect(set.body.components).toEqual([
        { product_id: a.id, quantity: 1 },
        { product_id: b.id, quantity: 1 },
        { product_id: c.id, quantity: 1 },
      ]);
      const buyers = await Promise.all(Array.from({ length: 6 }, () => api.user('set')));
      const replies: Reply[] = await Promise.all(
        buyers.map((u) =>
          api.request('POST', '/api/purchases', {
            token: u.token,
            body: { product_id: set.body.id, quantity: 1 },
          }),
        ),
      );
      // B has 2 units, so exactly 2 sets sell although the set itself has 5.
      expect(countStatuses(replies)).toEqual({ 200: 2, 400: 4 });
      const ok = replies.find((r) => r.status === 200);
      expect(ok?.body).toMatchObject({
        product_id: set.body.id,
        quantity: 1,
        total_price: 9000,
        items: [{ product_id: set.body.id, quantity: 1 }],
      });
      const rows = await audit([a.id, b.id, c.id, set.body.id]);
      expect(
        rows.map((r: { product_id: number; sold: number; ok: boolean }) => [r.product_id, r.sold, r.ok]),
      ).toEqual(
        // The audit lists products by id; a, b and c were created in parallel, so in any id order.
        [a.id, b.id, c.id, set.body.id].sort((x, y) => x - y).map((id) => [id, 2, true]),
      );
    },
  );

  it('refuses a bundle of an unknown product or of another bundle with 422 INVALID_BUNDLE', async () => {
    const a = await api.product(5);
    const set = await bundleOf([a], 5);
    const unknown = await bundleOf([a, { id: 99_999_999 }], 5);
    expect(unknown.status).toBe(422);
    expect(unknown.body.code).toBe('INVALID_BUNDLE');
    const nested = await bundleOf([a, { id: set.body.id }], 5);
    expect(nested.status).toBe(422);
    expect(nested.body.code).toBe('INVALID_BUNDLE');
  });
});

describe('lock ordering', () => {
  it('lets 1,000 rounds of [A, B] against [B, A] finish without deadlock: every section runs once, alone, none gives up', async () => {
    const locks = new RedisLock(healthy.redis);
    const [a, b] = [unique('A'), unique('B')];
    let sections = 0;
    let inside = 0;
    let maxInside = 0;
    const section = async () => {
      inside += 1;
      maxInside = Math.max(maxInside, inside);
      await sleep(0);
      sections += 1;
      inside -= 1;
    };
    // Ten rounds race at a time: the two orders meet in every round, and a deadlock (each holding one
    // lock, waiting for the other) would end a round in LockNotAcquiredError after the budget. Few
    // waiters at once keep the budget about the locks, not about how busy the machine is.
    const outcomes = new Set<string>();
    for (let batch = 0; batch < 100; batch++) {
      const rounds = await Promise.all(
        Array.from({ length: 10 }, () =>
          Promise.all([
            withLocks(locks, [a, b], section, { waitBudgetMs: 10_000 }),
            withLocks(locks, [b, a], section, { waitBudgetMs: 10_000 }),
          ]),
        ),
      );
      for (const result of rounds.flat()) outcomes.add(result.release);
    }
    expect(sections).toBe(2_000);
    expect(maxInside).toBe(1);
    expect([...outcomes]).toEqual(['released']);
    // One key per EXISTS: on a cluster the four keys live in two slots.
    const left = await Promise.all(
      [lockKey(a), lockKey(b), lockQueueKey(a), lockQueueKey(b)].map((key) => healthy.redis.exists(key)),
    );
    expect(left).toEqual([0, 0, 0, 0]);
  });

  it('gives up cleanly with LOCK_CONFLICT when one lock stays busy past the budget, holding nothing after', async () => {
    const locks = new RedisLock(healthy.redis);
    const [a, b] = [unique('A'), unique('B')];
    const blocker = await locks.acquire(b, { ttlMs: 10_000 });
    await expect(withLocks(locks, [a, b], async () => 'never', { waitBudgetMs: 200 })).rejects.toMatchObject({
      name: 'LockNotAcquiredError',
    });
    const free = await locks.acquire(a, { waitBudgetMs: 0 }); // A was released when B could not be had
    await locks.release(free);
    await locks.release(blocker);
  });

  it('sells [A, B] and [B, A] carts through HTTP for 50 rounds with the lock strategy: no deadlock, exact stock', async () => {
    const [a, b] = await Promise.all([
      api.product(1000, { strategy: 'lock' }),
      api.product(1000, { strategy: 'lock' }),
    ]);
    const [one, two] = await Promise.all([api.user(), api.user()]);
    const replies = (
      await Promise.all(
        Array.from({ length: 50 }, () =>
          Promise.all([
            cart(one.token, [
              [a.id, 1],
              [b.id, 1],
            ]),
            cart(two.token, [
              [b.id, 1],
              [a.id, 1],
            ]),
          ]),
        ),
      )
    ).flat();
    expect(countStatuses(replies)).toEqual({ 200: 100 });
    expect((await audit([a.id, b.id])).map((r: { sold: number; ok: boolean }) => [r.sold, r.ok])).toEqual([
      [100, true],
      [100, true],
    ]);
  });
});

describe('partial failures', () => {
  /** One after another, so the ids ascend in the order given (holds are taken in ascending id). */
  async function products(stocks: number[]) {
    const created = [];
    for (const stock of stocks)
      created.push(
        await healthy.catalog.create({ name: `p-${ulid()}`, price: 10, stock, strategy: 'atomic' }),
      );
    return created;
  }

  // One script over several products needs them on one node: not on a cluster (the cluster project).
  it.each(healthy.redis.isCluster ? [false] : [true, false])(
    'releases the lines already held when a later line falls short (one script: %s)',
    async (multiKeyScripts) => {
      const [a, b, c] = await products([5, 5, 0]);
      // The sold-out product comes last in hold order, so a and b are taken before c falls short.
      expect(c!.id).toBeGreaterThan(Math.max(a!.id, b!.id));
      const stock = new RedisStock(healthy.redis, { multiKeyScripts });
      const result = await stock.reserveAll(
        [
          { productId: a!.id, quantity: 1 },
          { productId: b!.id, quantity: 1 },
          { productId: c!.id, quantity: 1 },
        ],
        ulid(),
      );
      expect(result).toEqual({
        status: 'insufficient',
        shortages: [{ productId: c!.id, requested: 1, available: 0 }],
      });
      for (const p of [a, b]) {
        expect((await healthy.stock.peek(p!.id))?.available).toBe(5);
        expect(await healthy.stock.holds(p!.id)).toEqual([]);
      }
    },
  );

  it('puts every line back when the durable write of a cart fails', async () => {
    const [a, b, c] = await products([5, 5, 5]);
    const doc = dynamo();
    breakOperations(doc, ['TransactWriteItemsCommand'], refusal);
    const broken = stack({ redis: healthy.redis, doc });
    const error = await broken.purchaseService
      .purchase({ userId: 1, items: [a, b, c].map((p) => ({ productId: p!.id, quantity: 2 })) })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PurchaseNotRecordedError);
    for (const p of [a, b, c]) {
      expect(await healthy.stock.peek(p!.id)).toMatchObject({ available: 5 });
      expect(await healthy.stock.holds(p!.id)).toEqual([]);
      expect((await healthy.products.get(p!.id, true))?.stock).toBe(5);
    }
  });

  it('sells carts exactly on Redis Cluster terms too (per-product holds in order, with compensation)', async () => {
    const ids = (await products(Array.from({ length: 5 }, () => 20))).map((p) => p.id);
    const doc = createDocumentClient({
      AWS_REGION: 'us-east-1',
      DYNAMODB_ENDPOINT: process.env.DYNAMODB_ENDPOINT,
    });
    const productsTable = new ProductRepository(doc, 'products');
    const service = new PurchaseService({
      stock: new RedisStock(healthy.redis, { multiKeyScripts: false }),
      locks: new RedisLock(healthy.redis),
      products: productsTable,
      purchases: new PurchaseRepository(doc, 'purchases', 'products'),
      log: quietLog,
    });
    const outcomes = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        service
          .purchase({
            userId: 1,
            items: pickDistinct(ids, 2 + (i % 2)).map((productId) => ({ productId, quantity: 1 })),
          })
          .then(
            () => 'sold',
            (e: unknown) => (e instanceof InsufficientStockError ? 'sold-out' : `error ${String(e)}`),
          ),
      ),
    );
    expect(outcomes.filter((o) => o !== 'sold' && o !== 'sold-out')).toEqual([]);
    expect(outcomes).toContain('sold');
    const rows = (await healthy.reconciler.verify()).products.filter((p) => ids.includes(p.product_id));
    expect(rows.map((r) => r.product_id)).toEqual(ids);
    for (const row of rows) {
      expect(row).toMatchObject({ ok: true, held: 0 });
      expect(row.sold + row.db_stock).toBe(20);
      expect(row.redis_stock).toBe(row.db_stock);
    }
  });

  it('gives back the lines a cart took when its last product runs short on Redis Cluster terms', async () => {
    const plenty = await products([100, 100, 100, 100]);
    const [scarce] = await products([5]);
    expect(scarce!.id).toBeGreaterThan(Math.max(...plenty.map((p) => p.id)));

    const carts = 60;
    let planned = 0;
    let everyonePlanned!: () => void;
    const gate = new Promise<void>((resolve) => {
      everyonePlanned = resolve;
    });
    const released = new Map<string, number[]>();
    /** The real RedisStock, with a barrier before the holds and a record of every compensation. */
    class ObservedStock extends RedisStock {
      override async reserveAll(lines: readonly StockLine[], holdId: string) {
        // Every cart has seen the scarce product's 5 units before anyone takes a hold, so all 60 go on
        // to reserve: 5 get the scarce unit, 55 take their other lines first and then fall short.
        planned += 1;
        if (planned === carts) everyonePlanned();
        await gate;
        return super.reserveAll(lines, holdId);
      }
      override async releaseAll(lines: readonly StockLine[], holdId: string) {
        released.set(
          holdId,
          lines.map((l) => l.productId),
        );
        return super.releaseAll(lines, holdId);
      }
    }
    const service = new PurchaseService({
      stock: new ObservedStock(healthy.redis, { multiKeyScripts: false }),
      locks: new RedisLock(healthy.redis),
      products: healthy.products,
      purchases: healthy.purchases,
      log: quietLog,
    });
    const wanted = Array.from({ length: carts }, (_, i) => [
      ...pickDistinct(
        plenty.map((p) => p.id),
        1 + (i % 3),
      ),
      scarce!.id,
    ]);
    const outcomes = await Promise.all(
      wanted.map((ids, i) =>
        service
          .purchase({
            userId: 1,
            idempotencyKey: `cart-${scarce!.id}-${i}`,
            items: ids.map((productId) => ({ productId, quantity: 1 })),
          })
          .then(
            () => 'sold',
            (e: unknown) => e,
          ),
      ),
    );

    const refused = outcomes.flatMap((o, i) => (o === 'sold' ? [] : [i]));
    expect(outcomes.filter((o) => o === 'sold')).toHaveLength(5);
    for (const i of refused) {
      expect(outcomes[i]).toBeInstanceOf(InsufficientStockError);
      expect((outcomes[i] as InsufficientStockError).shortages).toEqual([
        { productId: scarce!.id, requested: 1, available: 0 },
      ]);
    }
    // Each refused cart released exactly the lines it had taken: its plentiful products.
    expect(released.size).toBe(carts - 5);
    for (const i of refused)
      expect(released.get(purchaseIdFor(1, `cart-${scarce!.id}-${i}`))).toEqual(
        wanted[i]!.filter((id) => id !== scarce!.id).sort((x, y) => x - y),
      );

    // So the plentiful products lost exactly what the 5 sold carts took, and nothing is held.
    const soldOf = (id: number) =>
      wanted.filter((ids, i) => outcomes[i] === 'sold' && ids.includes(id)).length;
    const rows = (await healthy.reconciler.verify()).products.filter((r) =>
      [...plenty, scarce!].some((p) => p.id === r.product_id),
    );
    expect(rows.map((r) => [r.product_id, r.sold, r.db_stock, r.redis_stock, r.held, r.ok])).toEqual(
      [...plenty, scarce!].map((p) => {
        const sold = p.id === scarce!.id ? 5 : soldOf(p.id);
        const left = p.stock - sold;
        return [p.id, sold, left, left, 0, true];
      }),
    );
  });
});
