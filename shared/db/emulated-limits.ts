/**
 * DynamoDB's per-item concurrency behaviour, emulated in front of DynamoDB Local (which has none of
 * it): transaction conflicts, per-item write capacity and a latency model. For tests, benchmarks
 * and `npm start` with DYNAMODB_EMULATE_LIMITS=1; never in AWS, where DynamoDB does this itself.
 *
 * Why an HTTP proxy and not SDK middleware: the behaviour is about what *other* writers are doing
 * to the same item at the same moment, and the local runtime's writers are many (each function's
 * worker threads, the reconciler, the tests' and benchmarks' own processes). Middleware would hold
 * its state per client, so two workers racing on one item would never see each other: exactly the
 * conflict it is meant to show. A proxy that every client reaches through DYNAMODB_ENDPOINT sees
 * every request on one event loop, so "in flight at the same time" is simply true or false there;
 * no shared-memory or Redis protocol to get right, and no change to a deployed function's client.
 *
 * What it does, with AWS's own numbers (Amazon DynamoDB Developer Guide):
 * - Conflicts ("Transaction conflict handling in DynamoDB", in "Amazon DynamoDB Transactions: How it
 *   works"): a TransactWriteItems that includes an item another TransactWriteItems is working on is
 *   cancelled, TransactionCanceledException with the reason `TransactionConflict` on that item;
 *   a PutItem, UpdateItem or DeleteItem on such an item fails with TransactionConflictException;
 *   a TransactGetItems reading it is cancelled likewise. A transaction holds its items from the
 *   moment it is admitted here until DynamoDB Local answered (its emulated latency included).
 * - Capacity ("Burst and adaptive capacity" and "Best practices for designing and using partition
 *   keys effectively": one partition serves at most 3,000 RCU and 1,000 WCU per second, and one
 *   item lives in one partition; "Read/write capacity mode": one WCU writes an item of up to 1 KB;
 *   "Capacity management for transactions": a transactional write costs 2 WCU per 1 KB, because
 *   DynamoDB prepares and then commits every item). A token bucket per item refills at
 *   DYNAMODB_ITEM_WCU units/s and holds one second's worth. Past it, a single-item write gets
 *   ProvisionedThroughputExceededException (which the SDK retries with its throttling backoff) and a
 *   transaction is cancelled with the reason `ThrottlingError` on the throttled items (the
 *   TransactWriteItems reference: "There is insufficient provisioned capacity for the transaction
 *   to be completed"). Writes that DynamoDB Local then refuses on their condition still spend their
 *   units, as on DynamoDB ("a failed conditional write still consumes write capacity"). Reads are not
 *   limited: 3,000 RCU per item is far above what one product's reads reach through the caches.
 *   Item sizes: a Put's item is measured by its JSON; an Update, Delete or ConditionCheck counts as
 *   one 1 KB unit (this service's items are well under 1 KB; DynamoDB charges the item's size).
 * - Latency ("What is Amazon DynamoDB?": "consistent single-digit millisecond performance"): every
 *   item request waits DYNAMODB_EMULATED_LATENCY_MS at the median, with a tail (p99 ≈ 3× the
 *   median); a transaction twice that, for its two underlying writes per item. Added to DynamoDB
 *   Local's own time.
 */
import { randomUUID } from 'node:crypto';
import { Agent, createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Config } from '../config.ts';

export interface EmulatedLimits {
  /** Write units per second one item accepts (1,000 on DynamoDB). */
  readonly itemWcu: number;
  /** Median latency added to a single-item request, ms; transactions take twice this. */
  readonly latencyMs: number;
}

export const emulatedLimitsOf = (
  config: Pick<Config, 'DYNAMODB_ITEM_WCU' | 'DYNAMODB_EMULATED_LATENCY_MS'>,
): EmulatedLimits => ({ itemWcu: config.DYNAMODB_ITEM_WCU, latencyMs: config.DYNAMODB_EMULATED_LATENCY_MS });

/**
 * What the emulation did since it started: GET /emulation/stats answers it with the limits in force;
 * PUT /emulation/limits `{itemWcu?, latencyMs?}` changes them (benchmarks' scale models).
 */
export interface EmulationStats {
  requests: number;
  transactions: number;
  /** Transactions cancelled with TransactionConflict, and single writes refused the same way. */
  conflicts: number;
  /** Writes and transactions refused for the item's write capacity. */
  throttles: number;
}

type AttributeMap = Record<string, unknown>;
interface ItemRef {
  readonly table: string;
  /** The item's key attributes, or (a Put) the whole item, reduced to the key below. */
  readonly attributes: AttributeMap;
  /** Write units this request spends on the item, before the transaction's doubling. */
  readonly units: number;
}

const KB = 1024;
const unitsOf = (item: AttributeMap | undefined) =>
  item ? Math.max(1, Math.ceil(Buffer.byteLength(JSON.stringify(item)) / KB)) : 1;

/** The items an item-level request touches, or null for requests the emulation passes through. */
function itemsOf(operation: string, body: AttributeMap): { items: ItemRef[]; transactional: boolean } | null {
  const single = (table: unknown, attributes: unknown, units: number): ItemRef => ({
    table: String(table),
    attributes: (attributes ?? {}) as AttributeMap,
    units,
  });
  switch (operation) {
    case 'PutItem':
      return {
        items: [single(body.TableName, body.Item, unitsOf(body.Item as AttributeMap))],
        transactional: false,
      };
    case 'UpdateItem':
    case 'DeleteItem':
      return { items: [single(body.TableName, body.Key, 1)], transactional: false };
    case 'TransactWriteItems':
    case 'TransactGetItems': {
      const entries = (body.TransactItems ?? []) as Record<string, AttributeMap>[];
      const items = entries.map((entry) => {
        const [, action] = Object.entries(entry)[0] ?? [];
        const put = action?.Item as AttributeMap | undefined;
        return single(action?.TableName, put ?? action?.Key, unitsOf(put));
      });
      return { items, transactional: true };
    }
    default:
      return null;
  }
}

/** Per-item token buckets: `itemWcu` units a second, at most one second's worth saved up. */
class ItemCapacity {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(private readonly unitsPerSecond: number) {}

  private bucket(item: string, now: number) {
    let bucket = this.buckets.get(item);
    if (!bucket) {
      bucket = { tokens: this.unitsPerSecond, at: now };
      this.buckets.set(item, bucket);
    }
    bucket.tokens = Math.min(
      this.unitsPerSecond,
      bucket.tokens + ((now - bucket.at) / 1000) * this.unitsPerSecond,
    );
    bucket.at = now;
    return bucket;
  }

  has(item: string, units: number, now: number): boolean {
    return this.bucket(item, now).tokens >= units;
  }

  spend(item: string, units: number, now: number): void {
    this.bucket(item, now).tokens -= units;
  }
}

/** A latency sample: median ≈ `medianMs`, p99 ≈ 3× (a shifted exponential tail). */
export const sampleLatency = (medianMs: number) => medianMs * (0.65 - 0.5 * Math.log(1 - Math.random()));

const JSON_10 = 'application/x-amz-json-1.0';
const ERROR_PREFIX = 'com.amazonaws.dynamodb.v20120810#';

function answerError(res: ServerResponse, type: string, body: AttributeMap): void {
  const payload = JSON.stringify({ __type: `${ERROR_PREFIX}${type}`, ...body });
  res.writeHead(400, {
    'content-type': JSON_10,
    'content-length': Buffer.byteLength(payload),
    'x-amzn-requestid': randomUUID(),
  });
  res.end(payload);
}

export interface EmulationProxy {
  readonly url: string;
  readonly port: number;
  stats(): EmulationStats;
  close(): Promise<void>;
}

/**
 * The emulation as an HTTP proxy in front of `target` (DynamoDB Local's URL): point every client's
 * DYNAMODB_ENDPOINT at the returned `url`.
 */
export async function startEmulationProxy(
  target: string,
  limits: EmulatedLimits,
  options: { port?: number; host?: string } = {},
): Promise<EmulationProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  // Key schemas, read once per table: a Put names the whole item, and only the key identifies it.
  const describer = new DynamoDBClient({
    region: 'us-east-1',
    endpoint: target,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const keySchemas = new Map<string, Promise<string[]>>();
  const keyNames = (table: string) => {
    let names = keySchemas.get(table);
    if (!names) {
      names = describer
        .send(new DescribeTableCommand({ TableName: table }))
        .then((d) => (d.Table?.KeySchema ?? []).map((k) => String(k.AttributeName)));
      names.catch(() => keySchemas.delete(table));
      keySchemas.set(table, names);
    }
    return names;
  };
  const idOf = async (item: ItemRef) => {
    const names = await keyNames(item.table).catch(() => Object.keys(item.attributes));
    const key = names.map((name) => [name, item.attributes[name]]);
    return `${item.table}\u0000${JSON.stringify(key)}`;
  };

  let current = limits;
  let capacity = new ItemCapacity(limits.itemWcu);
  /** Items a transaction is writing right now (id → how many; at most one, by construction). */
  const transacting = new Map<string, number>();
  const stats: EmulationStats = { requests: 0, transactions: 0, conflicts: 0, throttles: 0 };

  const forward = (req: IncomingMessage, body: Buffer) =>
    new Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }>((resolve, reject) => {
      const outgoing = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: upstream.host },
          agent,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 502,
              headers: response.headers,
              body: Buffer.concat(chunks),
            }),
          );
          response.on('error', reject);
        },
      );
      outgoing.on('error', reject);
      outgoing.end(body);
    });

  const relay = async (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const answer = await forward(req, body);
    res.writeHead(answer.status, answer.headers);
    res.end(answer.body);
  };

  async function handle(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    if (req.method === 'GET' && req.url === '/emulation/stats') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...stats, ...current }));
      return;
    }
    if (req.method === 'PUT' && req.url === '/emulation/limits') {
      // A benchmark's scale model without restarting every client: new limits, full buckets.
      current = { ...current, ...(JSON.parse(body.toString('utf8')) as Partial<EmulatedLimits>) };
      capacity = new ItemCapacity(current.itemWcu);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(current));
      return;
    }
    const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
    let touched: ReturnType<typeof itemsOf> = null;
    try {
      touched = itemsOf(operation, JSON.parse(body.toString('utf8') || '{}'));
    } catch {
      // Not JSON: DynamoDB Local answers it (with its own validation error).
    }
    if (!touched) {
      if (operation === 'GetItem' || operation === 'Query' || operation === 'BatchGetItem')
        await sleep(sampleLatency(current.latencyMs));
      return relay(req, res, body);
    }

    stats.requests++;
    const { items, transactional } = touched;
    const reading = operation === 'TransactGetItems';
    if (transactional && !reading) stats.transactions++;
    const ids = await Promise.all(items.map(idOf));
    const latency = sampleLatency(current.latencyMs) * (transactional ? 2 : 1);

    // Everything from here to the marking below runs without an await: admission is atomic on this
    // event loop, so two requests can never both see an item free.
    const now = performance.now();
    const busy = ids.map((id) => transacting.has(id));
    if (busy.some(Boolean)) {
      stats.conflicts++;
      await sleep(latency / 2);
      if (!transactional)
        return answerError(res, 'TransactionConflictException', {
          message: 'Transaction is ongoing for the item',
        });
      return answerError(res, 'TransactionCanceledException', {
        Message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${busy.map((b) => (b ? 'TransactionConflict' : 'None')).join(', ')}]`,
        CancellationReasons: busy.map((b) =>
          b
            ? { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' }
            : { Code: 'None' },
        ),
      });
    }
    if (reading) {
      await sleep(latency);
      return relay(req, res, body);
    }

    const cost = (i: number) => (items[i]?.units ?? 1) * (transactional ? 2 : 1);
    const short = ids.map((id, i) => !capacity.has(id, cost(i), now));
    if (short.some(Boolean)) {
      stats.throttles++;
      await sleep(latency / 2);
      if (!transactional)
        return answerError(res, 'ProvisionedThroughputExceededException', {
          message:
            'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.',
        });
      return answerError(res, 'TransactionCanceledException', {
        Message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${short.map((s) => (s ? 'ThrottlingError' : 'None')).join(', ')}]`,
        CancellationReasons: short.map((s) =>
          s
            ? {
                Code: 'ThrottlingError',
                Message:
                  'Throughput exceeds the current capacity for one or more global secondary indexes or the table.',
              }
            : { Code: 'None' },
        ),
      });
    }
    ids.forEach((id, i) => {
      capacity.spend(id, cost(i), now);
    });

    if (!transactional) {
      await sleep(latency);
      return relay(req, res, body);
    }
    for (const id of ids) transacting.set(id, (transacting.get(id) ?? 0) + 1);
    try {
      await sleep(latency);
      await relay(req, res, body);
    } finally {
      for (const id of ids) {
        const left = (transacting.get(id) ?? 1) - 1;
        if (left > 0) transacting.set(id, left);
        else transacting.delete(id);
      }
    }
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    // A client that gives up mid-request (the SDK's request timeout) must not take the proxy down.
    req.on('error', () => res.destroy());
    res.on('error', () => undefined);
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks)).catch(() => {
        // DynamoDB Local unreachable: answer as an unavailable DynamoDB would (the SDK retries a 503).
        if (!res.headersSent) res.writeHead(503, { 'content-type': JSON_10 });
        res.end(
          JSON.stringify({ __type: `${ERROR_PREFIX}ServiceUnavailable`, message: 'upstream unreachable' }),
        );
      });
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stats: () => ({ ...stats }),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
      describer.destroy();
    },
  };
}
