/**
 * The bundle rows of `npm run bench` (the roadmap's V2 target is 200 TPS): 10 products of 100 units,
 * 200 buyers at once, each buying a cart of 3 distinct random products, per strategy. The verdict is
 * the audit: per product sold + remaining = 100, Redis = DynamoDB.
 */
import type { Api } from './lib/local.ts';

export interface BundleSaleResult {
  strategy: 'lock' | 'atomic';
  carts: number;
  sold: number;
  soldOut: number;
  lockConflicts: number;
  errors5xx: number;
  cartsPerSecond: number;
  p50: number;
  p99: number;
  exact: boolean;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;

export async function bundleSale(
  client: Api,
  adminToken: string,
  buyers: readonly string[],
  strategy: 'lock' | 'atomic',
): Promise<BundleSaleResult> {
  const ids: number[] = [];
  for (let i = 0; i < 10; i++) {
    const created = await client.call(
      'POST',
      '/api/products',
      { name: `cart-${strategy}-${i}`, price: 100, stock: 100, strategy },
      adminToken,
    );
    ids.push(created.body.id);
  }
  const carts = buyers.map(() => [...ids].sort(() => Math.random() - 0.5).slice(0, 3));
  const started = performance.now();
  const replies = await Promise.all(
    buyers.map(async (token, i) => {
      const reply = await client.call(
        'POST',
        '/api/purchases',
        { items: (carts[i] ?? []).map((product_id) => ({ product_id, quantity: 1 })) },
        token,
      );
      return { ...reply, done: performance.now() };
    }),
  );
  const ok = replies.filter((r) => r.status === 200);
  const lastSale = Math.max(started, ...ok.map((r) => r.done));
  const latencies = replies.map((r) => r.ms).sort((a, b) => a - b);
  const audit = (await client.call('GET', '/api/admin/inventory/verify', undefined, adminToken)).body;
  const rows = audit.products.filter((p: { product_id: number }) => ids.includes(p.product_id));
  return {
    strategy,
    carts: replies.length,
    sold: ok.length,
    soldOut: replies.filter((r) => r.status === 400).length,
    lockConflicts: replies.filter((r) => r.status === 409).length,
    errors5xx: replies.filter((r) => r.status >= 500).length,
    cartsPerSecond: Math.round(ok.length / ((lastSale - started) / 1000)),
    p50: Math.round(percentile(latencies, 50)),
    p99: Math.round(percentile(latencies, 99)),
    exact: rows.every(
      (r: { ok: boolean; sold: number; db_stock: number }) => r.ok && r.sold + r.db_stock === 100,
    ),
  };
}
