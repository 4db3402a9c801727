import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '#shared/config';
import type { FlashSaleStack } from '../../lib/flash-sale-stack.ts';
import { allFunctions, functionProperties, type Json, logicalId, SYNTH_TIMEOUT, synth } from './support.ts';

const redisFunctions = allFunctions.filter((f) => f.uses.redis).map((f) => f.function);
const otherFunctions = allFunctions.filter((f) => !f.uses.redis).map((f) => f.function);

function alarmDimensionValues(template: Template, metricName: string): unknown[] {
  return Object.values(template.findResources('AWS::CloudWatch::Alarm')).flatMap((alarm) =>
    ((alarm.Properties.Metrics ?? []) as Json[])
      .filter((m) => m.MetricStat?.Metric.MetricName === metricName)
      .map((m) => m.MetricStat.Metric.Dimensions),
  );
}

function expectClusterNodesEnvironment(template: Template, stack: FlashSaleStack, endpoint: Json) {
  for (const name of redisFunctions) {
    const variables = functionProperties(template, stack, name).Environment.Variables;
    expect(variables.REDIS_CLUSTER_NODES, name).toEqual(endpoint);
    // The cluster client must speak TLS: in-transit encryption is on in every mode.
    expect(variables.REDIS_TLS, name).toBe('true');
    expect(variables.REDIS_URL, name).toBeUndefined();
    expect(variables.REDIS_AUTH_SECRET_ARN, name).toEqual({ Ref: logicalId(stack, stack.redis.authSecret) });
  }
  for (const name of otherFunctions) {
    expect(
      functionProperties(template, stack, name).Environment.Variables.REDIS_CLUSTER_NODES,
      name,
    ).toBeUndefined();
  }
}

/** The runtime reads REDIS_CLUSTER_NODES (shared/config.ts): the cluster modes synthesize without a warning. */
function expectRuntimeReadsClusterNodes(stack: FlashSaleStack) {
  expect('REDIS_CLUSTER_NODES' in configSchema.shape).toBe(true);
  expect(
    Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('REDIS_CLUSTER_NODES')),
  ).toEqual([]);
}

describe('redisMode=cluster', () => {
  let stack: FlashSaleStack;
  let template: Template;
  let validationReport: Json;

  beforeAll(() => {
    ({ stack, template, validationReport } = synth({
      redisMode: 'cluster',
      redisShards: '4',
      redisReplicas: '2',
    }));
  }, SYNTH_TIMEOUT);

  it('deploys a cluster-mode replication group: shards with replicas, failover, TLS, encryption, AUTH', () => {
    template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      Engine: 'valkey',
      ClusterMode: 'enabled',
      NumNodeGroups: 4,
      ReplicasPerNodeGroup: 2,
      AutomaticFailoverEnabled: true,
      MultiAZEnabled: true,
      TransitEncryptionEnabled: true,
      AtRestEncryptionEnabled: true,
      AuthToken: Match.anyValue(),
      Port: 6380,
      NumCacheClusters: Match.absent(),
    });
  });

  it('enables cluster mode and noeviction in its parameter group', () => {
    template.hasResourceProperties('AWS::ElastiCache::ParameterGroup', {
      CacheParameterGroupFamily: 'valkey8',
      Properties: { 'cluster-enabled': 'yes', 'maxmemory-policy': 'noeviction' },
    });
  });

  it('gives the Redis functions REDIS_CLUSTER_NODES=<configuration endpoint>:<port> instead of REDIS_URL', () => {
    const group = logicalId(stack, stack.redis.replicationGroup!);
    expectClusterNodesEnvironment(template, stack, {
      'Fn::Join': ['', [{ 'Fn::GetAtt': [group, 'ConfigurationEndPoint.Address'] }, ':6380']],
    });
  });

  it('alarms on the memory of every node of every shard, at most 10 nodes per alarm', () => {
    const group = logicalId(stack, stack.redis.replicationGroup!);
    const nodes = ['0001', '0002', '0003', '0004'].flatMap((shard) =>
      ['001', '002', '003'].map((node) => [
        { Name: 'CacheClusterId', Value: { 'Fn::Join': ['', [{ Ref: group }, `-${shard}-${node}`]] } },
      ]),
    );
    expect(alarmDimensionValues(template, 'DatabaseMemoryUsagePercentage')).toEqual(nodes);
    const perAlarm = Object.values(template.findResources('AWS::CloudWatch::Alarm'))
      .map((a) =>
        ((a.Properties.Metrics ?? []) as Json[]).filter(
          (m) => m.MetricStat?.Metric.MetricName === 'DatabaseMemoryUsagePercentage',
        ),
      )
      .filter((metrics) => metrics.length > 0)
      .map((metrics) => metrics.length);
    expect(perAlarm.sort()).toEqual([10, 2]);
  });

  it('passes cdk-nag, with no warning: the functions read REDIS_CLUSTER_NODES', () => {
    const report = (validationReport.pluginReports as Json[]).find((r) => r.pluginName === 'AwsSolutions');
    expect(report?.violations).toEqual([]);
    expectRuntimeReadsClusterNodes(stack);
  });
});

describe('redisMode=serverless', () => {
  let stack: FlashSaleStack;
  let template: Template;
  let validationReport: Json;

  beforeAll(() => {
    ({ stack, template, validationReport } = synth({ redisMode: 'serverless' }));
  }, SYNTH_TIMEOUT);

  it('deploys ElastiCache Serverless (Valkey) in the isolated subnets and no provisioned cache', () => {
    template.resourceCountIs('AWS::ElastiCache::ReplicationGroup', 0);
    template.resourceCountIs('AWS::ElastiCache::ParameterGroup', 0);
    template.hasResourceProperties('AWS::ElastiCache::ServerlessCache', {
      Engine: 'valkey',
      MajorEngineVersion: '8',
      SubnetIds: Match.arrayWith([Match.objectLike({ Ref: Match.anyValue() })]),
      SecurityGroupIds: [{ 'Fn::GetAtt': [logicalId(stack, stack.redis.securityGroup), 'GroupId'] }],
      UserGroupId: Match.objectLike({ Ref: Match.anyValue() }),
    });
  });

  it('names the cache, user and group after the stack id, with no name written down', () => {
    const cache = Object.values(template.findResources('AWS::ElastiCache::ServerlessCache'))[0] as Json;
    const stackUuid = { 'Fn::Select': [2, { 'Fn::Split': ['/', { Ref: 'AWS::StackId' }] }] };
    expect(cache.Properties.ServerlessCacheName).toEqual({ 'Fn::Join': ['', ['fs-', stackUuid]] });
  });

  it('authenticates as the default user of a user group, with the password from Secrets Manager', () => {
    const secret = logicalId(stack, stack.redis.authSecret);
    template.hasResourceProperties('AWS::ElastiCache::User', {
      Engine: 'valkey',
      UserName: 'default',
      AuthenticationMode: {
        Type: 'password',
        Passwords: [
          { 'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: secret }, ':SecretString:::}}']] },
        ],
      },
    });
    template.hasResourceProperties('AWS::ElastiCache::UserGroup', {
      Engine: 'valkey',
      UserIds: [{ Ref: Match.anyValue() }],
    });
  });

  it('opens port 6379 to the Redis functions only', () => {
    const ingress = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress')).filter(
      (r) => r.Properties.GroupId['Fn::GetAtt'][0] === logicalId(stack, stack.redis.securityGroup),
    );
    expect(ingress).toHaveLength(redisFunctions.length);
    for (const rule of ingress)
      expect([rule.Properties.FromPort, rule.Properties.ToPort]).toEqual([6379, 6379]);
  });

  it('gives the Redis functions REDIS_CLUSTER_NODES=<endpoint>:6379', () => {
    const cache = logicalId(stack, stack.redis.serverlessCache!);
    expectClusterNodesEnvironment(template, stack, {
      'Fn::Join': ['', [{ 'Fn::GetAtt': [cache, 'Endpoint.Address'] }, ':6379']],
    });
  });

  it('alarms on evictions and throttled commands under the serverless clusterId dimension', () => {
    const dims = [[{ Name: 'clusterId', Value: { Ref: logicalId(stack, stack.redis.serverlessCache!) } }]];
    expect(alarmDimensionValues(template, 'Evictions')).toEqual(dims);
    expect(alarmDimensionValues(template, 'ThrottledCmds')).toEqual(dims);
    expect(alarmDimensionValues(template, 'DatabaseMemoryUsagePercentage')).toEqual([]);
  });

  it('passes cdk-nag, with no warning: the functions read REDIS_CLUSTER_NODES', () => {
    const report = (validationReport.pluginReports as Json[]).find((r) => r.pluginName === 'AwsSolutions');
    expect(report?.violations).toEqual([]);
    expectRuntimeReadsClusterNodes(stack);
  });
});
