/**
 * A flash-sale crowd with sign-ups against a running local runtime, and what it did to the sale:
 *
 *   npx tsx bin/local/stress.ts --url http://127.0.0.1:3000 --admin admin:change-me-please
 *
 * An admin creates one product of `--stock` units (100). `--users` buyers (300) arrive `--rate` per
 * second (30); each registers and logs in (bcrypt at the runtime's cost, 10 by default), then until
 * `--duration` seconds (60) have passed since the start loops: view the product's stock, think,
 * buy one unit, think (0.1–0.5 s each). It prints the sign-up, login and purchase latencies, the
 * statuses, the 409 LOCK_CONFLICT answers that came while stock remained (before the last unit was
 * sold), and the admin's inventory verification of the product (sold must equal the stock).
 *
 * The runtime's purchase strategy is the product's default: start it with PURCHASE_STRATEGY=lock
 * or atomic. This client is one Node process with fetch; it shares the machine with the runtime.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:3000' },
    admin: { type: 'string' },
    users: { type: 'string', default: '300' },
    rate: { type: 'string', default: '30' },
    duration: { type: 'string', default: '60' },
    stock: { type: 'string', default: '100' },
  },
});
if (!args.admin?.includes(':')) {
  console.error(
    '--admin <username>:<password> is required (start the runtime with ADMIN_USERNAME/ADMIN_PASSWORD)',
  );
  process.exit(2);
}
const base = `${args.url}/api`;
const users = Number(args.users);
const rate = Number(args.rate);
const durationMs = Number(args.duration) * 1000;
const stock = Number(args.stock);
const run = randomBytes(3).toString('hex');

type Kind = 'register' | 'login' | 'stock' | 'purchase';
interface Sample {
  kind: Kind;
  status: number;
  code?: string;
  ms: number;
  /** ms since the start, when the answer arrived */
  at: number;
}
const samples: Sample[] = [];
const started = performance.now();

async function call(kind: Kind | null, method: string, path: string, body?: unknown, token?: string) {
  const sent = performance.now();
  let status = 0;
  let json: Record<string, unknown> | null = null;
  try {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(body !== undefined && { 'content-type': 'application/json' }),
        ...(token && { authorization: `Bearer ${token}` }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(120_000),
    });
    status = response.status;
    const text = await response.text();
    json = text ? (JSON.parse(text) as Record<string, unknown>) : null;
  } catch {
    status = 0; // no answer: refused, reset or timed out (120 s)
  }
  const now = performance.now();
  if (kind) {
    const code = typeof json?.code === 'string' ? json.code : undefined;
    samples.push({ kind, status, ...(code && { code }), ms: now - sent, at: now - started });
  }
  return { status, json };
}

const think = () => sleep(100 + Math.random() * 400);

async function buyer(index: number, productId: number) {
  const username = `stress_${run}_${index}`;
  const password = 'password123';
  const registered = await call('register', 'POST', '/auth/register', { username, password });
  if (registered.status !== 201) return;
  const login = await call('login', 'POST', '/auth/login', { username, password });
  const token = login.json?.access_token;
  if (login.status !== 200 || typeof token !== 'string') return;
  while (performance.now() - started < durationMs) {
    await call('stock', 'GET', `/products/${productId}/stock`, undefined, token);
    await think();
    if (performance.now() - started >= durationMs) break;
    await call('purchase', 'POST', '/purchases', { product_id: productId, quantity: 1 }, token);
    await think();
  }
}

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

function summary(kind: Kind) {
  const of = samples.filter((s) => s.kind === kind);
  const statuses: Record<string, number> = {};
  for (const s of of) {
    const key = s.code ? `${s.status} ${s.code}` : String(s.status);
    statuses[key] = (statuses[key] ?? 0) + 1;
  }
  const ms = of.map((s) => s.ms);
  return {
    requests: of.length,
    p50_ms: Math.round(percentile(ms, 50)),
    p99_ms: Math.round(percentile(ms, 99)),
    max_ms: Math.round(Math.max(...ms)),
    statuses,
  };
}

const [adminName, ...rest] = args.admin.split(':');
const adminLogin = await call(null, 'POST', '/auth/login', { username: adminName, password: rest.join(':') });
const adminToken = adminLogin.json?.access_token as string | undefined;
if (!adminToken) throw new Error(`admin login: ${adminLogin.status} ${JSON.stringify(adminLogin.json)}`);
const created = await call(
  null,
  'POST',
  '/products',
  { name: `stress ${run}`, price: 1000, stock },
  adminToken,
);
const productId = created.json?.id;
if (created.status !== 201 || typeof productId !== 'number') {
  throw new Error(`create product: ${created.status} ${JSON.stringify(created.json)}`);
}

const crowd: Promise<void>[] = [];
for (let i = 0; i < users; i += 1) {
  const due = started + (i * 1000) / rate;
  const wait = due - performance.now();
  if (wait > 0) await sleep(wait);
  crowd.push(buyer(i, productId));
}
await Promise.all(crowd);

const sales = samples.filter((s) => s.kind === 'purchase' && s.status === 200);
const soldOutAt = sales.length >= stock ? Math.max(...sales.map((s) => s.at)) : Number.POSITIVE_INFINITY;
const conflicts = samples.filter(
  (s) => s.kind === 'purchase' && s.status === 409 && s.code === 'LOCK_CONFLICT',
);
const verify = await call(null, 'GET', '/admin/inventory/verify', undefined, adminToken);
const products = (verify.json?.products ?? []) as { product_id: number }[];

console.log(
  JSON.stringify(
    {
      url: args.url,
      users,
      rate,
      duration_s: durationMs / 1000,
      product_id: productId,
      stock,
      sold_200s: sales.length,
      sold_out_after_s: Number.isFinite(soldOutAt) ? Number((soldOutAt / 1000).toFixed(1)) : null,
      lock_conflicts_while_stock_remained: conflicts.filter((s) => s.at < soldOutAt).length,
      lock_conflicts_total: conflicts.length,
      register: summary('register'),
      login: summary('login'),
      stock_view: summary('stock'),
      purchase: summary('purchase'),
      purchase_while_stock_remained: {
        p50_ms: Math.round(
          percentile(
            samples.filter((s) => s.kind === 'purchase' && s.at < soldOutAt).map((s) => s.ms),
            50,
          ),
        ),
        p99_ms: Math.round(
          percentile(
            samples.filter((s) => s.kind === 'purchase' && s.at < soldOutAt).map((s) => s.ms),
            99,
          ),
        ),
      },
      verify: products.find((p) => p.product_id === productId) ?? { status: verify.status },
    },
    null,
    2,
  ),
);
