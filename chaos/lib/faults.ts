/**
 * The faults, one per scenario. `inject` starts the fault in the middle of the sale and returns when
 * it is cleared (the moment recovery is measured from); `setup` and `teardown` run outside the sale.
 */
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { burnCpu, logFile, RedisNode } from './processes.ts';
import { TcpProxy } from './proxy.ts';
import type { ChaosStack, ServiceProfile } from './stack.ts';

export interface Fault {
  readonly name: string;
  readonly title: string;
  /** What is done, in one or two sentences for the report. */
  readonly what: string;
  readonly profile: ServiceProfile;
  setup?(stack: ChaosStack): Promise<void>;
  inject(stack: ChaosStack, note: (line: string) => void): Promise<void>;
  teardown?(stack: ChaosStack): Promise<void>;
}

const LOCK_TTL_MS = 5_000;

export const redisKill: Fault = {
  name: 'redis-kill',
  title: 'kill -9 of redis-server, restarted empty',
  what: 'redis-server is killed with SIGKILL; 2 s later a new one starts on the same port with no data (no persistence), so the live stock, holds, locks and deals are gone.',
  profile: 'standard',
  async inject(stack, note) {
    await stack.redis.kill9();
    note('redis-server killed (SIGKILL)');
    await sleep(2_000);
    await stack.redis.start();
    note('redis-server restarted, empty');
  },
};

export const redisPause: Fault = {
  name: 'redis-sigstop',
  title: 'SIGSTOP of redis-server longer than the lock TTL, then SIGCONT',
  what: `redis-server is stopped (SIGSTOP) for ${(LOCK_TTL_MS + 1_500) / 1000} s, longer than the lock TTL (${LOCK_TTL_MS / 1000} s), then continued: every lock held when it stopped has expired when it wakes up.`,
  profile: 'standard',
  async inject(stack, note) {
    stack.redis.signal('SIGSTOP');
    note('redis-server stopped (SIGSTOP)');
    await sleep(LOCK_TTL_MS + 1_500);
    stack.redis.signal('SIGCONT');
    note('redis-server continued (SIGCONT)');
  },
};

/** The replica follows the primary through this proxy, so its link can be held without touching either. */
let replicationLink: TcpProxy | undefined;
let replica: RedisNode | undefined;

export const replicaPromotion: Fault = {
  name: 'replica-promotion',
  title: 'failover to a replica that missed the last acknowledged writes',
  what: 'A replica follows the primary through a proxy. Mid-sale the replication link is held (the primary keeps acknowledging writes the replica never receives) for 1.5 s; then the replica is promoted (REPLICAOF NO ONE), the service is pointed at it and the old primary is killed.',
  profile: 'standard',
  async setup(stack) {
    replicationLink = new TcpProxy(stack.redis.port);
    await replicationLink.listen();
    replica = await RedisNode.create(logFile(stack.workDir, 'servers.log'), stack.workDir, [
      '--replicaof',
      '127.0.0.1',
      String(replicationLink.port),
    ]);
    const deadline = Date.now() + 20_000;
    const node = replica;
    while (!(await node.command((r) => r.info('replication'))).includes('master_link_status:up')) {
      if (Date.now() > deadline) throw new Error('the replica did not catch up within 20 s');
      await sleep(200);
    }
  },
  async inject(stack, note) {
    if (!replicationLink || !replica) throw new Error('setup starts the replica');
    replicationLink.setMode({ kind: 'blackhole' });
    note('replication link held: the primary acknowledges writes the replica does not get');
    await sleep(1_500);
    const offsets = await stack.redis.command((r) => r.info('replication'));
    const promoted = replica;
    await promoted.command((r) => r.call('REPLICAOF', 'NO', 'ONE'));
    promoted.promoted();
    const old = stack.redis;
    stack.failOverTo(promoted);
    await old.kill9();
    note(
      `replica promoted (REPLICAOF NO ONE), service pointed at it, old primary killed; primary was at ${/master_repl_offset:(\d+)/.exec(offsets)?.[1] ?? '?'}`,
    );
  },
  async teardown() {
    await replicationLink?.close();
    replicationLink = undefined;
    replica = undefined;
  },
};

export const dynamoKill: Fault = {
  name: 'dynamodb-kill',
  title: 'kill -9 of DynamoDB Local (on disk), restarted',
  what: 'DynamoDB Local, which keeps its data in a directory, is killed with SIGKILL; 1 s later it is started again on the same port and data directory (Java start-up included in the outage).',
  profile: 'standard',
  async inject(stack, note) {
    await stack.dynamo.kill9();
    note('DynamoDB Local killed (SIGKILL)');
    await sleep(1_000);
    await stack.dynamo.start();
    note('DynamoDB Local restarted on its data directory');
  },
};

export const connectionDrops: Fault = {
  name: 'redis-connection-drops',
  title: 'Redis connections dropped right after a command is forwarded',
  what: 'For 4 s the proxy between the service and Redis forwards each command and then, for 30 % of them, closes both connections before the answer comes back: Redis ran the command, the service never hears of it and ioredis sends it again.',
  profile: 'standard',
  async inject(stack, note) {
    const before = stack.redisProxy.dropped;
    stack.redisProxy.setMode({ kind: 'drop', rate: 0.3 });
    await sleep(4_000);
    stack.redisProxy.setMode({ kind: 'pass' });
    note(`${stack.redisProxy.dropped - before} connections dropped after a command`);
  },
};

export const redisLatency: Fault = {
  name: 'redis-latency',
  title: '50–200 ms of latency on every Redis packet',
  what: 'For 5 s the proxy between the service and Redis holds every chunk, either way, for 50–200 ms (order kept).',
  profile: 'standard',
  async inject(stack) {
    stack.redisProxy.setMode({ kind: 'latency', minMs: 50, maxMs: 200 });
    await sleep(5_000);
    stack.redisProxy.setMode({ kind: 'pass' });
  },
};

export const functionTimeout: Fault = {
  name: 'function-timeout',
  title: 'functions killed at their timeout in the middle of a purchase',
  what: 'The purchase, order and confirm functions run with a 2.5 s timeout. For 4 s every DynamoDB packet is held for about 1.4 s each way, so a purchase that reaches DynamoDB runs past its timeout and its worker is terminated mid-purchase (the write on the wire still lands).',
  profile: 'short-timeout',
  async inject(stack) {
    stack.dynamoProxy.setMode({ kind: 'latency', minMs: 1_300, maxMs: 1_500 });
    await sleep(4_000);
    stack.dynamoProxy.setMode({ kind: 'pass' });
  },
};

export const clockJumps: Fault = {
  name: 'clock-jumps',
  title: "the service's clock jumped forward and back (faketime)",
  what: "The service runs under libfaketime. Its wall clock jumps 5 minutes ahead for 3 s, then 2 minutes behind for 3 s, then back to true time (timers, on the monotonic clock, are untouched). The deal's reservations last 2 minutes, so the jump ahead makes them look expired.",
  profile: 'faketime',
  async inject(stack, note) {
    stack.setClockOffset(300);
    note('service clock +300 s');
    await sleep(3_000);
    stack.setClockOffset(-120);
    note('service clock −120 s');
    await sleep(3_000);
    stack.setClockOffset(0);
    note('service clock true again');
  },
};

export const cpuSaturation: Fault = {
  name: 'cpu-saturation',
  title: 'every core saturated by busy processes',
  what: `For 8 s, ${cpus().length} busy-loop processes (one per core) compete with the service, Redis and DynamoDB Local for the CPU.`,
  profile: 'standard',
  async inject(stack) {
    const stop = burnCpu(cpus().length, logFile(stack.workDir, 'servers.log'));
    await sleep(8_000);
    await stop();
  },
};

export const allFaults: readonly Fault[] = [
  redisKill,
  redisPause,
  connectionDrops,
  redisLatency,
  replicaPromotion,
  dynamoKill,
  cpuSaturation,
  functionTimeout,
  clockJumps,
];

/** The short form inside `npm test`: the faults most likely to break the ledger. */
export const shortFaults: readonly Fault[] = [redisKill, connectionDrops, redisPause];
