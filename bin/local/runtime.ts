/**
 * The local runtime behind `npm start`: real DynamoDB (DynamoDB Local, or DYNAMODB_ENDPOINT), real
 * Redis (REDIS_URL, or a redis-server it starts), the tables from the CDK stack's definitions, and
 * the local API Gateway in front of the same Lambda handlers that deploy.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { config, parseConfig } from '../../shared/config.ts';
import { loginService } from '../../shared/wiring/auth.ts';
import { redisClient } from '../../shared/wiring/redis.ts';
import { reconciler } from '../../shared/wiring/stock.ts';
import { createApiServer } from './api-gateway.ts';
import { isListening, type StartedProcess, startDynamoDbLocal, startRedisServer } from './processes.ts';
import { prepareStore } from './store.ts';

export interface LocalRuntimeOptions {
  readonly port?: number;
  readonly host?: string;
  /** Where DynamoDB Local keeps its data and the local JWT key live; git-ignored. */
  readonly dataDir?: string;
  readonly log?: (line: string) => void;
}

export interface LocalRuntime {
  readonly url: string;
  readonly started: readonly StartedProcess[];
  stop(): Promise<void>;
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
function localSigningKey(dataDir: string): string {
  const file = join(dataDir, 'jwt-secret');
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, randomBytes(48).toString('base64url'), { mode: 0o600 });
  }
  return readFileSync(file, 'utf8').trim();
}

export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const log = options.log ?? ((line: string) => console.log(line));
  const dataDir = options.dataDir ?? join(process.cwd(), '.data');
  const started: StartedProcess[] = [];
  const env = process.env;
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

    const redisUrl = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    if (await redisAnswers(redisUrl)) {
      log(`using Redis at ${redisUrl}`);
    } else {
      const wanted = Number(new URL(redisUrl).port || 6379);
      const redis = await startRedisServer((await isListening(wanted)) ? {} : { port: wanted });
      started.push(redis);
      env.REDIS_URL = redis.url;
      log(`no Redis answered at ${redisUrl}; started redis-server at ${redis.url}`);
    }

    if (!env.JWT_SECRET && !env.JWT_SECRET_ARN) env.JWT_SECRET = localSigningKey(dataDir);

    // The store id is the namespace of every Redis key; the handlers read it from the environment.
    env.STORE_ID = await prepareStore(parseConfig(env), log);
    const cfg = config();

    if (env.ADMIN_USERNAME && env.ADMIN_PASSWORD) {
      const accounts = await loginService.get();
      const { created: isNew } = await accounts.upsertAdmin(env.ADMIN_USERNAME, env.ADMIN_PASSWORD);
      log(`admin ${env.ADMIN_USERNAME} ${isNew ? 'created' : 'updated'}`);
    } else {
      log(
        'no admin configured: set ADMIN_USERNAME and ADMIN_PASSWORD, or run `npm run admin -- <username> <password>`',
      );
    }

    const reconcile = async () => {
      try {
        await (await reconciler.get()).reconcileAll();
      } catch (error) {
        console.error('reconcile failed', error);
      }
    };
    if (cfg.RECONCILE_ON_START) await reconcile();
    const timer =
      cfg.RECONCILE_INTERVAL_MS > 0 ? setInterval(reconcile, cfg.RECONCILE_INTERVAL_MS) : undefined;
    timer?.unref();

    const server = createApiServer();
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

    return {
      url,
      started,
      stop: async () => {
        if (timer) clearInterval(timer);
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        (await redisClient.get()).disconnect();
        await Promise.all(started.map((p) => p.stop()));
      },
    };
  } catch (error) {
    await Promise.all(started.map((p) => p.stop()));
    throw error;
  }
}
