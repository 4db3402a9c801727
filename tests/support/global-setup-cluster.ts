/**
 * The same tests on a real Redis Cluster: three primaries with a replica each (six redis-server
 * processes in cluster mode, joined by `redis-cli --cluster create`), and DynamoDB Local, on free
 * ports, all stopped at the end. The service reaches the cluster through REDIS_CLUSTER_NODES.
 */
import type { TestProject } from 'vitest/node';
import { startRedisCluster } from '../../bin/local/processes.ts';
import { startDynamoWithTables } from './global-setup.ts';

export default async function setup(project: TestProject) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const [cluster, dynamo] = await Promise.all([startRedisCluster(), startDynamoWithTables()]);
  // Code that still asks for one URL gets a node of the cluster, which answers with MOVED for keys
  // it does not own: a test that forgot the cluster fails instead of passing on the wrong Redis.
  project.provide('redisUrl', cluster.servers[0]?.url ?? '');
  project.provide('redisClusterNodes', cluster.nodes);
  project.provide('dynamoEndpoint', dynamo.url);
  return async () => {
    await Promise.all([cluster.stop(), dynamo.stop()]);
  };
}
