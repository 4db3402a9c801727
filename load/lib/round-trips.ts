/**
 * Redis round trips per purchase, counted rather than reasoned about: the purchase use-case as the
 * purchase function wires it (live stock, product locks, the per-user limit) over its own client of a
 * private redis-server and DynamoDB Local, one purchase at a time, counting the client's socket
 * writes (one write is one round trip: commands sent together travel together) and the commands
 * Redis ran (INFO commandstats, scripts counted once; a second client reads it).
 */
import type { Socket } from 'node:net';
import type { Redis } from 'ioredis';
import { createDocumentClient, ProductRepository, PurchaseRepository } from '../../shared/db/index.ts';
import { PurchaseGuard, RedisWindows } from '../../shared/limits/index.ts';
import { RedisLock } from '../../shared/lock/index.ts';
import { createRedis } from '../../shared/redis.ts';
import {
  type EventLog,
  InsufficientStockError,
  ProductService,
  PurchaseService,
  RedisStock,
} from '../../shared/stock/index.ts';

export interface RoundTripRow {
  readonly strategy: 'lock' | 'atomic';
  readonly outcome: 'purchased' | 'sold out';
  readonly roundTrips: number;
  readonly commands: number;
}

const silent: EventLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function commandsRun(observer: Redis): Promise<number> {
  const info = await observer.info('commandstats');
  let calls = 0;
  for (const match of info.matchAll(/^cmdstat_(\w+(?:\|\w+)?):calls=(\d+)/gm)) {
    if (match[1] !== 'info') calls += Number(match[2]);
  }
  return calls;
}

/**
 * Round trips and commands per purchase of each strategy, for a purchase that buys and for one
 * refused as sold out, averaged over `purchases` purchases made one after another.
 */
export async function countRoundTrips(options: {
  redisUrl: string;
  dynamoEndpoint: string;
  purchases?: number;
}): Promise<RoundTripRow[]> {
  const n = options.purchases ?? 20;
  const redis = createRedis(options.redisUrl);
  const observer = createRedis(options.redisUrl);
  const doc = createDocumentClient({ AWS_REGION: 'us-east-1', DYNAMODB_ENDPOINT: options.dynamoEndpoint });
  const products = new ProductRepository(doc, 'products');
  const stock = new RedisStock(redis);
  const catalog = new ProductService(products, stock, 'lock');
  const service = new PurchaseService({
    stock,
    locks: new RedisLock(redis),
    products,
    purchases: new PurchaseRepository(doc, 'purchases', 'products'),
    log: silent,
    gate: new PurchaseGuard(new RedisWindows(redis), { inFlightPerUser: 2, inFlightTtlMs: 30_000 }),
  });
  await redis.ping();
  let writes = 0;
  const socket = (redis as unknown as { stream: Socket }).stream;
  const write = socket.write;
  socket.write = function (this: Socket, ...args: Parameters<Socket['write']>) {
    writes += 1;
    return write.apply(this, args);
  } as Socket['write'];
  const rows: RoundTripRow[] = [];
  try {
    for (const strategy of ['lock', 'atomic'] as const) {
      for (const outcome of ['purchased', 'sold out'] as const) {
        const product = await catalog.create({
          name: `round trips ${strategy} ${outcome}`,
          price: 1,
          stock: outcome === 'purchased' ? n + 1 : 0,
          strategy,
        });
        const buy = (userId: number) =>
          service
            .purchase({ userId, items: [{ productId: product.id, quantity: 1 }] })
            .catch((error: unknown) => {
              if (!(error instanceof InsufficientStockError)) throw error;
            });
        await buy(1); // the first purchase loads the scripts: not what a warm function pays
        const commandsBefore = await commandsRun(observer);
        writes = 0;
        for (let i = 0; i < n; i++) await buy(2 + i);
        const counted = writes;
        const commands = (await commandsRun(observer)) - commandsBefore;
        rows.push({
          strategy,
          outcome,
          roundTrips: Number((counted / n).toFixed(2)),
          commands: Number((commands / n).toFixed(2)),
        });
      }
    }
  } finally {
    socket.write = write;
    redis.disconnect();
    observer.disconnect();
  }
  return rows;
}

export function roundTripTable(rows: readonly RoundTripRow[]): string {
  return [
    '| strategy | purchase | Redis round trips | Redis commands |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.strategy} | ${r.outcome} | ${r.roundTrips} | ${r.commands} |`),
  ].join('\n');
}
