/**
 * `npm run bench:redlock`: the locks and the cluster, measured on this machine.
 *
 *  1. Lock acquisition, open loop: a new acquisition every 1000/RATE ms (500 per second by default)
 *     for DURATION seconds, each on one of 1,000 products, held 1 ms and released. Acquire time is
 *     from the call to the grant, client side. Redlock over 5 independent redis-servers (with 0 and 2
 *     of them killed) beside the single-node lock on one redis-server.
 *  2. Purchases through Redlock: the purchase use-case (lock strategy, fenced durable write) on 50
 *     products of DynamoDB Local, 2,000 purchases by 32 concurrent callers (closed loop: DynamoDB
 *     Local's ceiling is below 500 transactions per second on this machine, and an open loop above a
 *     ceiling measures the queue): purchases per second, and the lock's acquire time as each
 *     purchase logged it (`lock_wait_ms`).
 *  3. Redis Cluster (3 primaries, 3 replicas) on the atomic path: reserve + commit pairs offered at
 *     the same rate over 1,000 products (the slots of all three primaries), and atomic purchases per
 *     second as in 2.
 *
 * Setup (servers, tables, products) is not timed.
 */
import { cpus, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type StartedProcess,
  startDynamoDbLocal,
  startRedisCluster,
  startRedisServer,
} from '../bin/local/processes.ts';
import {
  createDocumentClient,
  createDynamoClient,
  createTables,
  ProductRepository,
  PurchaseRepository,
} from '../shared/db/index.ts';
import { type DistributedLock, RedisLock, RedisLockNode, Redlock } from '../shared/lock/index.ts';
import {
  createLockNode,
  createRedis,
  createRedisCluster,
  type RedisClient,
  whenReady,
} from '../shared/redis.ts';
import { type EventLog, ProductService, PurchaseService, RedisStock } from '../shared/stock/index.ts';

const RATE = Number(process.env.BENCH_RATE ?? 500);
const DURATION_S = Number(process.env.BENCH_SECONDS ?? 10);
const RESOURCES = 1_000;
const PURCHASES = Number(process.env.BENCH_PURCHASES ?? 2_000);
const PURCHASE_CALLERS = 32;
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
const ms = (n: number) => n.toFixed(1);

interface Paced {
  readonly offered: number;
  readonly done: number;
  readonly failed: number;
  readonly perSecond: number;
  readonly latencies: number[];
}

/** Start `op` every 1000/RATE ms for DURATION_S seconds (open loop: a slow op never delays the next). */
async function paced(op: (i: number) => Promise<number | undefined>): Promise<Paced> {
  const total = RATE * DURATION_S;
  const latencies: number[] = [];
  let failed = 0;
  const started = performance.now();
  const running: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    running.push(
      op(i).then(
        (latency) => {
          if (latency === undefined) failed += 1;
          else latencies.push(latency);
        },
        () => {
          failed += 1;
        },
      ),
    );
  }
  await Promise.all(running);
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { offered: total, done: latencies.length, failed, perSecond: latencies.length / seconds, latencies };
}

/**
 * `total` ops by `callers` concurrent callers, each starting its next op when the last ended: the
 * throughput the path sustains (the durable write is DynamoDB Local's, a ceiling of its own).
 */
async function closedLoop(
  total: number,
  callers: number,
  op: (i: number) => Promise<number>,
): Promise<Paced> {
  const latencies: number[] = [];
  let failed = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < total) {
        const i = next++;
        await op(i).then(
          (latency) => latencies.push(latency),
          () => {
            failed += 1;
          },
        );
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { offered: total, done: latencies.length, failed, perSecond: latencies.length / seconds, latencies };
}

function row(name: string, r: Paced, latencies = r.latencies) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return `| ${name} | ${r.offered} | ${r.done} | ${r.failed} | ${Math.round(r.perSecond)} | ${ms(percentile(sorted, 50))} | ${ms(percentile(sorted, 99))} | ${ms(sorted.at(-1) ?? Number.NaN)} |`;
}

async function acquisitions(locks: DistributedLock): Promise<Paced> {
  return paced(async (i) => {
    const started = performance.now();
    const lock = await locks.acquire(`bench-${i % RESOURCES}`, { waitBudgetMs: 5_000 });
    const took = performance.now() - started;
    await sleep(1);
    await locks.release(lock);
    return took;
  });
}

/** A log that keeps each purchase's lock acquire time. */
function lockTimes(): EventLog & { waits: number[] } {
  const waits: number[] = [];
  return {
    waits,
    info: (_message, fields) => {
      if (typeof fields.lock_wait_ms === 'number') waits.push(fields.lock_wait_ms);
    },
    warn: () => undefined,
    error: () => undefined,
  };
}

async function purchases(
  redis: RedisClient,
  endpoint: string,
  locks: DistributedLock,
  strategy: 'lock' | 'atomic',
  table: string,
) {
  const cfg = { AWS_REGION: 'us-east-1', DYNAMODB_ENDPOINT: endpoint };
  await createTables(createDynamoClient(cfg), {
    products: `${table}-products`,
    purchases: `${table}-purchases`,
  });
  const doc = createDocumentClient(cfg);
  const products = new ProductRepository(doc, `${table}-products`);
  const history = new PurchaseRepository(doc, `${table}-purchases`, `${table}-products`);
  const stock = new RedisStock(redis);
  const catalog = new ProductService(products, stock, strategy);
  const ids: number[] = [];
  for (let i = 0; i < 50; i++)
    ids.push((await catalog.create({ name: `b${i}`, price: 1, stock: 100_000, strategy })).id);
  const log = lockTimes();
  const service = new PurchaseService({
    stock,
    locks,
    products,
    purchases: history,
    log,
    lockOptions: { waitBudgetMs: 5_000 },
  });
  // Warm the JVM and the connections: not measured.
  for (let i = 0; i < 200; i++)
    await service.purchase({ userId: 1, items: [{ productId: ids[i % 50] as number, quantity: 1 }] });
  log.waits.length = 0;
  const result = await closedLoop(PURCHASES, PURCHASE_CALLERS, async (i) => {
    const started = performance.now();
    await service.purchase({ userId: i, items: [{ productId: ids[i % 50] as number, quantity: 1 }] });
    return performance.now() - started;
  });
  return { result, lockWaits: [...log.waits] };
}

async function main() {
  console.log(
    `# bench:redlock — ${new Date().toISOString().slice(0, 10)}, ${cpus().length} vCPU ${cpus()[0]?.model ?? ''}, Node ${process.version}`,
  );
  // The machine's load matters more than anything here: say what it was.
  console.log(
    `offered rate ${RATE}/s for ${DURATION_S} s per row; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}\n`,
  );
  const started: StartedProcess[] = [];
  const single = await startRedisServer();
  const nodes = await Promise.all(Array.from({ length: 5 }, () => startRedisServer()));
  const dynamo = await startDynamoDbLocal();
  started.push(single, ...nodes, dynamo);
  const cluster = await startRedisCluster();
  try {
    const singleClient = createRedis(single.url);
    const nodeClients = nodes.map((n) => createLockNode({ host: '127.0.0.1', port: n.port }));
    await Promise.all(nodeClients.map((c) => whenReady(c, 5_000)));
    const redlock = new Redlock(nodeClients.map((c) => new RedisLockNode(c)));

    console.log('## 1. Lock acquisition (acquire → hold 1 ms → release; acquire time client side)\n');
    console.log('| lock | offered | granted | failed | grants/s | p50 ms | p99 ms | max ms |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    console.log(row('single-node lock (1 redis-server)', await acquisitions(new RedisLock(singleClient))));
    console.log(row('Redlock, 5 of 5 nodes up', await acquisitions(redlock)));
    // The most the path sustains here: 32 callers, each starting its next acquisition when the last ended.
    const capacity = (locks: DistributedLock) =>
      closedLoop(RATE * DURATION_S, 32, async (i) => {
        const started = performance.now();
        const lock = await locks.acquire(`cap-${i % RESOURCES}`, { waitBudgetMs: 5_000 });
        const took = performance.now() - started;
        await locks.release(lock);
        return took;
      });
    console.log(
      row('single-node lock, 32 callers back to back', await capacity(new RedisLock(singleClient))),
    );
    console.log(row('Redlock 5/5, 32 callers back to back', await capacity(redlock)));

    console.log(
      '\n## 2. Purchases through Redlock (lock strategy, fenced write, DynamoDB Local, 50 products)\n',
    );
    const bought = await purchases(singleClient, dynamo.url, redlock, 'lock', 'redlock');
    console.log('| path | purchases | bought | failed | purchases/s | p50 ms | p99 ms | max ms |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    console.log(row('purchase (whole request)', bought.result));
    console.log(row('its lock acquisition (lock_wait_ms)', bought.result, bought.lockWaits));

    console.log('\n## 1b. Redlock with 2 of 5 nodes killed\n');
    await nodes[0]?.stop();
    await nodes[1]?.stop();
    console.log('| lock | offered | granted | failed | grants/s | p50 ms | p99 ms | max ms |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    console.log(row('Redlock, 3 of 5 nodes up', await acquisitions(redlock)));

    console.log('\n## 3. Redis Cluster, 3 primaries + 3 replicas, atomic path\n');
    const clusterClient = createRedisCluster(
      cluster.nodes.split(',').map((a) => ({ host: '127.0.0.1', port: Number(a.split(':')[1]) })),
    );
    const stock = new RedisStock(clusterClient);
    for (let id = 1; id <= RESOURCES; id++)
      await stock.put({ id, stock: 1_000_000, price: 1, strategy: 'atomic' });
    console.log('| path | offered | done | failed | per s | p50 ms | p99 ms | max ms |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    const reserves = await paced(async (i) => {
      const t = performance.now();
      const id = (i % RESOURCES) + 1;
      await stock.reserve(id, 1, `r${i}`);
      await stock.commit(id, `r${i}`);
      return performance.now() - t;
    });
    console.log(row('reserve + commit (library)', reserves));
    const clusterBought = await purchases(clusterClient, dynamo.url, redlock, 'atomic', 'cluster');
    console.log(row('atomic purchase (whole request)', clusterBought.result));
    for (const c of [singleClient, ...nodeClients]) c.disconnect();
    clusterClient.disconnect();
  } finally {
    await cluster.stop();
    await Promise.all(started.map((s) => s.stop()));
  }
}

await main();
