import { describe, expect, it } from 'vitest';
import { missingFor, parseConfig } from '../../shared/config.ts';
import { driftOf, quorumOf, validityOf } from '../../shared/lock/index.ts';

describe('Redlock arithmetic', () => {
  it('needs a majority: 2 of 3, 3 of 4, 3 of 5', () => {
    expect([1, 2, 3, 4, 5].map(quorumOf)).toEqual([1, 2, 2, 3, 3]);
  });

  it('allows TTL × factor + 2 ms of clock drift', () => {
    expect(driftOf(5_000, 0.01)).toBe(52);
    expect(driftOf(1_000, 0.01)).toBe(12);
    expect(driftOf(1_000, 0)).toBe(2);
  });

  it('leaves a grant TTL − elapsed − drift of validity, none when the rounds took too long', () => {
    expect(validityOf(5_000, 30, 0.01)).toBe(5_000 - 30 - 52);
    expect(validityOf(1_000, 988, 0.01)).toBe(0);
    expect(validityOf(1_000, 995, 0.01)).toBeLessThan(0);
  });
});

describe('REDLOCK_NODES and REDIS_CLUSTER_NODES', () => {
  it('are empty by default: the single-node lock on a standalone Redis', () => {
    const config = parseConfig({});
    expect(config.REDLOCK_NODES).toEqual([]);
    expect(config.REDIS_CLUSTER_NODES).toEqual([]);
    expect(config.REDLOCK_DRIFT_FACTOR).toBe(0.01);
    expect(config.REDLOCK_NODE_TIMEOUT_MS).toBe(50);
  });

  it('parse host:port lists, spaces and an IPv6 literal included', () => {
    const config = parseConfig({
      REDLOCK_NODES: 'a.example:6379, 10.0.0.2:6380 ,[::1]:7000',
      REDIS_CLUSTER_NODES: 'cfg.cache.example:6379',
    });
    expect(config.REDLOCK_NODES).toEqual([
      { host: 'a.example', port: 6379 },
      { host: '10.0.0.2', port: 6380 },
      { host: '::1', port: 7000 },
    ]);
    expect(config.REDIS_CLUSTER_NODES).toEqual([{ host: 'cfg.cache.example', port: 6379 }]);
  });

  it('name every entry that is not host:port', () => {
    expect(() => parseConfig({ REDLOCK_NODES: 'a:1,b,c:99999' })).toThrow(
      /REDLOCK_NODES: "b" is not host:port.*REDLOCK_NODES: "c:99999" is not host:port/,
    );
  });

  it('let a deployed function reach Redis through the cluster nodes alone', () => {
    const deployed = parseConfig({ STAGE: 'prod', STORE_ID: 'products-x', REDIS_CLUSTER_NODES: 'cfg:6379' });
    expect(missingFor(deployed, { tables: {}, redis: true, jwt: false })).toEqual([]);
    const neither = parseConfig({ STAGE: 'prod', STORE_ID: 'products-x' });
    expect(missingFor(neither, { tables: {}, redis: true, jwt: false })).toEqual(['REDIS_URL']);
  });
});
