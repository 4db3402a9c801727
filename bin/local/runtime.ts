/**
 * The local runtime behind `npm start`: real DynamoDB (DynamoDB Local, or DYNAMODB_ENDPOINT), real
 * Redis (REDIS_URL, or a redis-server it starts), the tables from the CDK stack's definitions, and
 * the local API Gateway in front of the same Lambda handlers that deploy.
 *
 * By default each function runs in its own worker threads (function-pool.ts), as each Lambda
 * invocation runs in its own sandbox: up to 4 workers per function and 32 in all, with the stack's
 * timeouts (10 s for HTTP functions). LOCAL_CONCURRENCY, LOCAL_CONCURRENCY_<FN>, LOCAL_MAX_WORKERS,
 * LOCAL_TIMEOUT_MS, LOCAL_TIMEOUT_MS_<FN> and LOCAL_QUEUE_LIMIT change that, LOCAL_RUNTIME=in-process
 * runs every handler on the gateway's event loop instead (settings.ts has the table). The scheduled
 * reconciler runs as its function too, on its interval, as EventBridge would start it.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { config, parseConfig } from '../../shared/config.ts';
import { accountService } from '../../shared/wiring/auth.ts';
import { redisClient } from '../../shared/wiring/redis.ts';
import { createApiServer } from './api-gateway.ts';
import { FunctionPool, type PoolEvent } from './function-pool.ts';
import { inProcessInvoker } from './invocation.ts';
import { MetricRegistry, readStdout } from './metric-registry.ts';
import {
  isListening,
  type StartedProcess,
  startDynamoDbLocal,
  startEmulatedDynamoDb,
  startRedisServer,
} from './processes.ts';
import { type RuntimeSettings, runtimeSettings } from './settings.ts';
import { prepareStore } from './store.ts';
import { keyEnvironment, keyStorePath, loadOrCreateKeys } from './token-keys.ts';

export interface LocalRuntimeOptions {
  readonly port?: number;
  readonly host?: string;
  /** Where DynamoDB Local keeps its data and the local JWT key live; git-ignored. */
  readonly dataDir?: string;
  readonly log?: (line: string) => void;
  /** Isolation, worker counts and timeouts. @default runtimeSettings(process.env) */
  readonly settings?: RuntimeSettings;
  /** Everything the worker pool does (cold starts, invocations, timeouts, exits), for tests. */
  readonly onPoolEvent?: (event: PoolEvent) => void;
}

export interface LocalRuntime {
  readonly url: string;
  readonly started: readonly StartedProcess[];
  /** The functions' workers; absent with LOCAL_RUNTIME=in-process. */
  readonly pool: FunctionPool | undefined;
  /** What the functions' EMF lines add up to (GET /metrics, GET /api/admin/metrics). */
  readonly metrics: MetricRegistry;
  stop(): Promise<void>;
}

/** What EventBridge sends the reconciler on its schedule. */
function scheduledEvent(region: string) {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '000000000000',
    time: new Date().toISOString(),
    region,
    resources: [],
    detail: {},
  };
}

async function redisAnswers(url: string): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/** A signing key that survives restarts, so tokens issued before a restart still work. */
export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const log = options.log ?? ((line: string) => console.log(line));
  const dataDir = options.dataDir ?? join(process.cwd(), '.data');
  const started: StartedProcess[] = [];
  const env = process.env;
  const settings = options.settings ?? runtimeSettings(env);
  let pool: FunctionPool | undefined;
  // From the first line any function prints: the reconcile at start-up included.
  const metrics = new MetricRegistry().serve();
  const stopReading = readStdout(metrics);
  try {
    if (!env.DYNAMODB_ENDPOINT) {
      const port = (await isListening(8000)) ? undefined : 8000;
      const dynamo = await startDynamoDbLocal({ ...(port && { port }), dataDir: join(dataDir, 'dynamodb') });
      started.push(dynamo);
      env.DYNAMODB_ENDPOINT = dynamo.url;
      log(`started DynamoDB Local at ${dynamo.url} (data in ${join(dataDir, 'dynamodb')})`);
    } else {
      log(`using DynamoDB at ${env.DYNAMODB_ENDPOINT}`);
    }

    const emulated = parseConfig(env);
    if (emulated.DYNAMODB_EMULATE_LIMITS) {
      // One proxy for every function worker, so a conflict between two workers shows (see the file).
      const emulation = await startEmulatedDynamoDb(env.DYNAMODB_ENDPOINT, env);
      started.push(emulation);
      log(
        `emulating DynamoDB's per-item limits at ${emulation.url} in front of ${env.DYNAMODB_ENDPOINT} ` +
          `(DYNAMODB_ITEM_WCU=${emulated.DYNAMODB_ITEM_WCU}); docs/operations.md`,
      );
      env.DYNAMODB_ENDPOINT = emulation.url;
    }

    const redisUrl = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    if (env.REDIS_CLUSTER_NODES) {
      // A cluster is the operator's: the runtime never starts one.
      log(`using Redis Cluster at ${env.REDIS_CLUSTER_NODES}`);
    } else if (await redisAnswers(redisUrl)) {
      log(`using Redis at ${redisUrl}`);
    } else {
      const wanted = Number(new URL(redisUrl).port || 6379);
      const redis = await startRedisServer((await isListening(wanted)) ? {} : { port: wanted });
      started.push(redis);
      env.REDIS_URL = redis.url;
      log(`no Redis answered at ${redisUrl}; started redis-server at ${redis.url}`);
    }

    if (!env.JWT_SIGNING_KEY && !env.JWT_SIGNING_KEY_ARN) {
      const keys = loadOrCreateKeys(dataDir);
      Object.assign(env, keyEnvironment(keys));
      log(
        `token key ${keys.current.kid}${keys.previous ? ` (still accepting ${keys.previous.kid})` : ''} ` +
          `from ${keyStorePath(dataDir)}; npm run rotate-keys makes a new one`,
      );
    }

    // The store id is the namespace of every Redis key; the handlers read it from the environment.
    env.STORE_ID = await prepareStore(parseConfig(env), log);
    const cfg = config();

    if (env.ADMIN_USERNAME && env.ADMIN_PASSWORD) {
      const accounts = await accountService.get();
      const { created: isNew } = await accounts.upsertAdmin(env.ADMIN_USERNAME, env.ADMIN_PASSWORD);
      log(`admin ${env.ADMIN_USERNAME} ${isNew ? 'created' : 'updated'}`);
    } else {
      log(
        'no admin configured: set ADMIN_USERNAME and ADMIN_PASSWORD, or run `npm run admin -- <username> <password>`',
      );
    }

    if (settings.isolation === 'workers') {
      pool = new FunctionPool({
        settings,
        log,
        ...(options.onPoolEvent && { onEvent: options.onPoolEvent }),
      });
      await pool.prepare();
    }
    const workers = pool;
    // The reconciler runs as its function either way, so its metrics reach the registry.
    const inProcess = inProcessInvoker();
    const reconcile = async () => {
      try {
        if (workers)
          await workers.invoke('reconcile-inventory', scheduledEvent(cfg.AWS_REGION), randomUUID());
        else await inProcess.invoke('reconcile-inventory', scheduledEvent(cfg.AWS_REGION), randomUUID());
      } catch (error) {
        console.error('reconcile failed', error);
      }
    };
    if (cfg.RECONCILE_ON_START) await reconcile();
    const timer =
      cfg.RECONCILE_INTERVAL_MS > 0 ? setInterval(reconcile, cfg.RECONCILE_INTERVAL_MS) : undefined;
    timer?.unref();

    const server = createApiServer({
      invoker: workers ?? inProcess,
      metrics,
      // The local access log, one JSON line per request like API Gateway's: LOCAL_ACCESS_LOG=1 (off
      // by default: a load run's million lines would cost more than they tell).
      ...(env.LOCAL_ACCESS_LOG === '1' && { accessLog: (line: string) => log(line) }),
    });
    const port = options.port ?? Number(env.PORT ?? 3000);
    const host = options.host ?? env.HOST ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, resolve);
    });
    const url = `http://${host}:${(server.address() as AddressInfo).port}`;
    log(
      `API at ${url}/api (strategy ${cfg.PURCHASE_STRATEGY}, reconcile every ${cfg.RECONCILE_INTERVAL_MS} ms)`,
    );
    log(isolationSummary(settings));

    return {
      url,
      started,
      pool: workers,
      metrics,
      stop: async () => {
        stopReading();
        metrics.close();
        if (timer) clearInterval(timer);
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await workers?.close();
        (await redisClient.get()).disconnect();
        await Promise.all(started.map((p) => p.stop()));
      },
    };
  } catch (error) {
    stopReading();
    metrics.close();
    await pool?.close();
    await Promise.all(started.map((p) => p.stop()));
    throw error;
  }
}

function isolationSummary(settings: RuntimeSettings): string {
  if (settings.isolation === 'in-process') {
    return 'functions run in-process: one event loop for all, no timeouts (LOCAL_RUNTIME=in-process)';
  }
  const limits = [...settings.functions.values()];
  const concurrency = new Set(limits.map((l) => l.concurrency));
  const timeouts = new Set(limits.map((l) => l.timeoutMs));
  return (
    `functions run in worker threads: up to ${[...concurrency].join('/')} per function, ` +
    `${settings.maxWorkers} in all, timeouts ${[...timeouts].map((t) => `${t / 1000} s`).join('/')} ` +
    '(LOCAL_CONCURRENCY, LOCAL_MAX_WORKERS, LOCAL_TIMEOUT_MS; bin/local/settings.ts)'
  );
}
