/**
 * The system under chaos, all on 127.0.0.1: redis-server, DynamoDB Local with its data on disk, and
 * the service (the local runtime: every function in its own worker threads with its timeout), which
 * reaches Redis and DynamoDB through TCP proxies so a scenario can drop, slow down, cut or redirect
 * its connections. The runner's own checks talk to DynamoDB directly and to Redis through the proxy
 * (so they follow a failover), with the same store namespace as the service.
 *
 * The service's timings are the deployed ones scaled down so a scenario stays short; their order
 * is the deployed order: Redis command (2 s) and DynamoDB call (3 s) timeouts and the lock wait
 * budget (3 s) < function timeout (8 s) < the age at which the reconciler settles a hold (9 s).
 * The function timeout stays close to the deployed 10 s: on a busy machine a worker's first
 * invocation (connecting to Redis and DynamoDB) can take seconds, and a shorter timeout kills
 * every fresh worker before it is warm, a collapse of the machine's making, not the fault's.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../bin/local/processes.ts';
import { DynamoNode, logFile, RedisNode, ServiceProcess } from './processes.ts';
import { TcpProxy } from './proxy.ts';

export const FUNCTION_TIMEOUT_MS = 8_000;
export const HOLD_STALE_AFTER_MS = 9_000;

const ADMIN = { username: 'chaos_admin', password: 'chaos-admin-password' };
const PASSWORD = 'chaos-buyer-password';
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';

/** How the service process is started; a scenario that needs another profile gets a restart. */
export type ServiceProfile = 'standard' | 'short-timeout' | 'faketime';

export interface User {
  readonly userId: number;
  readonly token: string;
}

export interface Reply {
  readonly status: number;
  // biome-ignore lint/suspicious/noExplicitAny: the JSON of any endpoint; callers read what they need.
  readonly body: any;
}

export class ChaosStack {
  readonly faketimeFile: string;
  private service: ServiceProcess | undefined;
  private profile: ServiceProfile | undefined;
  private readonly jwtSecret = randomBytes(48).toString('base64url');
  adminToken = '';
  users: User[] = [];

  private constructor(
    readonly workDir: string,
    public redis: RedisNode,
    readonly redisProxy: TcpProxy,
    readonly dynamo: DynamoNode,
    readonly dynamoProxy: TcpProxy,
    private readonly say: (line: string) => void,
  ) {
    this.faketimeFile = join(workDir, 'faketime');
    writeFileSync(this.faketimeFile, '+0\n');
  }

  /** Start Redis, DynamoDB Local (data under `workDir`), the proxies and the service. */
  static async start(workDir: string, say: (line: string) => void): Promise<ChaosStack> {
    const log = logFile(workDir, 'servers.log');
    const [redis, dynamo] = await Promise.all([
      RedisNode.create(log, workDir),
      DynamoNode.create(log, join(workDir, 'dynamodb')),
    ]);
    const redisProxy = new TcpProxy(redis.port);
    const dynamoProxy = new TcpProxy(dynamo.port);
    await Promise.all([redisProxy.listen(), dynamoProxy.listen()]);
    say(
      `redis-server :${redis.port} (proxy :${redisProxy.port}), DynamoDB Local :${dynamo.port} (proxy :${dynamoProxy.port}, data in ${join(workDir, 'dynamodb')})`,
    );
    const stack = new ChaosStack(workDir, redis, redisProxy, dynamo, dynamoProxy, say);
    await stack.useService('standard');
    return stack;
  }

  get url(): string {
    if (!this.service) throw new Error('the service is not running');
    return this.service.url;
  }

  get servicePid(): number | undefined {
    return this.service?.pid;
  }

  serviceEnv(profile: ServiceProfile): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      STAGE: 'local',
      REDIS_URL: `redis://127.0.0.1:${this.redisProxy.port}`,
      DYNAMODB_ENDPOINT: `http://127.0.0.1:${this.dynamoProxy.port}`,
      JWT_SECRET: this.jwtSecret,
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_PASSWORD: ADMIN.password,
      // Hundreds of sign-ups before each run; production's cost 10 is the load tests' business.
      BCRYPT_COST: '4',
      // No scheduled pass during the sale: the verdict judges the data after exactly one reconcile.
      RECONCILE_INTERVAL_MS: '0',
      RECONCILE_ON_START: 'false',
      LOCAL_TIMEOUT_MS: String(FUNCTION_TIMEOUT_MS),
      HOLD_STALE_AFTER_MS: String(HOLD_STALE_AFTER_MS),
      LOCK_WAIT_BUDGET_MS: '3000',
      LOCAL_CONCURRENCY_CREATE_PURCHASE: '6',
      // Lambda throttles (429) when a function is at its concurrency rather than queueing for long;
      // a short queue keeps a backlog from turning every answer into a client timeout and a retry.
      LOCAL_QUEUE_LIMIT: '30',
      LOG_LEVEL: 'WARN',
      POWERTOOLS_LOG_LEVEL: 'WARN',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    if (profile === 'short-timeout') {
      // A purchase or an order whose DynamoDB call takes about 3 s runs past its function's 2.5 s
      // timeout and is killed in the middle. The SDK's own timeout is raised above the function's
      // (the 3 s default would answer first), the lock budget stays below it.
      env.LOCAL_TIMEOUT_MS_CREATE_PURCHASE = '2500';
      env.LOCAL_TIMEOUT_MS_CREATE_ORDER = '2500';
      env.LOCAL_TIMEOUT_MS_CONFIRM_ORDER = '2500';
      env.DYNAMODB_REQUEST_TIMEOUT_MS = '4000';
      env.LOCK_WAIT_BUDGET_MS = '1500';
    }
    if (profile === 'faketime') {
      env.LD_PRELOAD = LIBFAKETIME;
      env.FAKETIME_TIMESTAMP_FILE = this.faketimeFile;
      // The wall clock jumps; the monotonic clock (timers, timeouts) keeps running as it does.
      env.FAKETIME_DONT_FAKE_MONOTONIC = '1';
      env.FAKETIME_CACHE_DURATION = '1';
    }
    return env;
  }

  /** Make sure the service runs with `profile`, restarting it if it runs with another. */
  async useService(profile: ServiceProfile): Promise<void> {
    if (this.profile === profile && this.service) return;
    await this.service?.stop();
    this.service = undefined;
    const log = logFile(this.workDir, 'service.log');
    const service = new ServiceProcess(await freePort(), this.serviceEnv(profile), log);
    const started = Date.now();
    await service.start();
    this.service = service;
    this.profile = profile;
    this.say(`service (${profile}) at ${service.url} in ${Date.now() - started} ms`);
    this.adminToken = await this.login(ADMIN.username, ADMIN.password);
    // Tokens from before a restart stay valid (same signing key): the users carry over.
  }

  async call(
    method: string,
    path: string,
    body?: unknown,
    token?: string,
    timeoutMs = 10_000,
  ): Promise<Reply> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  }

  /** A call that setup cannot do without: a busy machine's 5xx or timeout is tried again. */
  async must(method: string, path: string, body: unknown, token: string | undefined, expect: number[]) {
    let last = '';
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const reply = await this.call(method, path, body, token);
        if (expect.includes(reply.status)) return reply;
        last = `${reply.status} ${JSON.stringify(reply.body)}`;
        if (reply.status < 500) break;
      } catch (error) {
        last = String(error);
      }
      await sleep(500 * (attempt + 1));
    }
    throw new Error(`${method} ${path} answered ${last}`);
  }

  private async login(username: string, password: string): Promise<string> {
    const reply = await this.must('POST', '/api/auth/login', { username, password }, undefined, [200]);
    return reply.body.access_token as string;
  }

  /** At least `count` buyers, registered and signed in, 25 at a time. */
  async ensureUsers(count: number): Promise<void> {
    while (this.users.length < count) {
      const batch = Array.from({ length: Math.min(25, count - this.users.length) }, (_, i) => {
        return `buyer_${this.users.length + i}`;
      });
      const made = await Promise.all(
        batch.map(async (username) => {
          const registered = await this.must(
            'POST',
            '/api/auth/register',
            { username, password: PASSWORD },
            undefined,
            [201, 409],
          );
          const token = await this.login(username, PASSWORD);
          const userId =
            registered.status === 201
              ? (registered.body.id as number)
              : ((await this.must('GET', '/api/auth/me', undefined, token, [200])).body.id as number);
          return { userId, token };
        }),
      );
      this.users.push(...made);
    }
  }

  async createProduct(name: string, stock: number, strategy: 'lock' | 'atomic'): Promise<number> {
    const reply = await this.must(
      'POST',
      '/api/products',
      { name, price: 1000, stock, strategy },
      this.adminToken,
      [201],
    );
    return reply.body.id as number;
  }

  async startHotDeal(productId: number, maxPerUser: number, reservationTtlSeconds: number): Promise<void> {
    await this.must(
      'POST',
      `/api/products/${productId}/hotdeal/start`,
      { max_per_user: maxPerUser, reservation_ttl_seconds: reservationTtlSeconds },
      this.adminToken,
      [200],
    );
  }

  /** Point Redis traffic at another server, as a failover does: new connections go there, old ones end. */
  failOverTo(node: RedisNode): void {
    this.redis = node;
    this.redisProxy.retarget(node.port);
    this.redisProxy.cut();
  }

  setClockOffset(seconds: number): void {
    writeFileSync(this.faketimeFile, `${seconds >= 0 ? '+' : ''}${seconds}\n`);
  }

  async close(): Promise<void> {
    await this.service?.stop();
    await Promise.all([this.redisProxy.close(), this.dynamoProxy.close()]);
    await Promise.all([this.redis.stop(), this.dynamo.stop()]);
  }
}
