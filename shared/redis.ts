/**
 * The ioredis clients with every Lua script of the lock-and-stock library registered once, so each
 * call runs by EVALSHA with ioredis's NOSCRIPT fallback: a standalone (or primary/replica) Redis, a
 * Redis Cluster, and the independent nodes of a Redlock.
 */
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { lockScripts } from './lock/scripts.ts';
import { orderScripts } from './orders/scripts.ts';
import { stockScripts } from './stock/scripts.ts';

/** What the adapters take: one Redis, or a Redis Cluster (every command and script is single-slot). */
export type RedisClient = Redis | Cluster;

const scripts = { ...lockScripts, ...stockScripts, ...orderScripts };

/**
 * The prefix of every key of one store (one set of tables). Two stores may share a Redis: two
 * checkouts, two local data folders, two stages on one cache, or tables recreated while Redis kept
 * its keys. The hash tags (`{42}`) come after the prefix: Redis Cluster hashes only what is inside
 * the first braces, so a product's keys share one slot whatever the store. An empty store id means
 * no prefix (tests that own their Redis).
 */
export const keyNamespace = (storeId: string | undefined): string => (storeId ? `fs:${storeId}:` : '');

/** The key that says a store uses this Redis (read by `npm start` to notice other stores). */
export const storeMarkerKey = (storeId: string) => `fs:${storeId}:marker`;

export function createRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    scripts,
    // Concurrent requests in one process (the local runtime) share round trips.
    enableAutoPipelining: true,
    // Fail a request fast rather than queue it behind a dead connection; the caller answers 503.
    maxRetriesPerRequest: 2,
    connectTimeout: 3_000,
    // Connect on the first command: functions that never touch Redis never open a connection.
    lazyConnect: true,
    ...options,
  });
}

export interface ClusterNode {
  readonly host: string;
  readonly port: number;
}

/**
 * A Redis Cluster client from its seed nodes (ElastiCache's configuration endpoint is one). Commands
 * go to the slot's primary; a failover's MOVED and CLUSTERDOWN answers are retried by ioredis for a
 * short while, then the request answers 503 like any Redis outage.
 */
export function createRedisCluster(
  nodes: readonly ClusterNode[],
  options: { password?: string; tls?: boolean; commandTimeout?: number } & ClusterOptions = {},
): Cluster {
  const { password, tls, commandTimeout, ...clusterOptions } = options;
  return new Cluster(
    nodes.map((n) => ({ host: n.host, port: n.port })),
    {
      scripts,
      // Auto-pipelining batches concurrent commands per node: the cluster form of one round trip.
      enableAutoPipelining: true,
      lazyConnect: true,
      // ElastiCache hands out node addresses whose certificates name the configuration endpoint.
      ...(tls && { dnsLookup: (address, callback) => callback(null, address) }),
      redisOptions: {
        maxRetriesPerRequest: 2,
        connectTimeout: 3_000,
        ...(commandTimeout !== undefined && { commandTimeout }),
        ...(password && { password }),
        ...(tls && { tls: {} }),
      },
      // A failover takes the cluster a few seconds: retry MOVED/TRYAGAIN/CLUSTERDOWN inside a budget
      // well below the functions' timeout.
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      retryDelayOnTryAgain: 100,
      maxRedirections: 16,
      ...clusterOptions,
    },
  );
}

/**
 * One independent node of a Redlock: never queue a command for a node that is down (the lock
 * counts it as failed at once rather than after a timeout), and connect at creation so the first
 * lock does not pay for N handshakes.
 */
export function createLockNode(node: ClusterNode, options: RedisOptions = {}): Redis {
  const client = new Redis({
    host: node.host,
    port: node.port,
    scripts,
    // Concurrent acquisitions share one write per node: a Redlock sends N times the single lock's commands.
    enableAutoPipelining: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 1_000,
    // Reconnect soon after a node comes back: a Redlock with a node missing has less slack.
    retryStrategy: (times) => Math.min(times * 50, 500),
    ...options,
  });
  // A node being down is a state the lock expects and counts, not an error to print on every retry.
  client.on('error', () => undefined);
  return client;
}

/**
 * Resolves when the client is connected (true) or after `timeoutMs` (false): a lock node that is
 * down at a cold start is one the Redlock counts as failed, not a reason to stop.
 */
export function whenReady(client: Redis, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.off('ready', ready);
      resolve(false);
    }, timeoutMs);
    const ready = () => {
      clearTimeout(timer);
      resolve(true);
    };
    client.once('ready', ready);
  });
}

/** Whether the client is a Redis Cluster (keys of different products live on different nodes). */
export const isCluster = (client: RedisClient): client is Cluster => client.isCluster;
