/**
 * The lock-and-stock store, in one of three ElastiCache (Valkey, Redis-compatible) flavours chosen by
 * the `redisMode` context:
 *
 * - `replication-group` (default): one primary with replicas, cluster mode disabled. Clients get
 *   REDIS_URL=rediss://<primary endpoint>:<port>.
 * - `cluster`: cluster mode enabled, `redisShards` shards of one primary and `redisReplicas` replicas.
 *   Clients get REDIS_CLUSTER_NODES=<configuration endpoint>:<port> and must speak the cluster
 *   protocol; every key of one product shares a hash tag, so each script runs on one shard.
 * - `serverless`: ElastiCache Serverless. Clients get REDIS_CLUSTER_NODES=<endpoint>:6379 (a
 *   serverless cache always talks the cluster protocol).
 *
 * Every flavour lives in the isolated subnets, encrypts in transit and at rest, and takes a password
 * that Secrets Manager generates (the AUTH token, or for serverless the password of the `default`
 * user of a user group). CloudFormation receives it as a `{{resolve:secretsmanager:...}}` dynamic
 * reference, so it never appears in the template; the functions read it from the secret at cold start.
 *
 * Provisioned flavours use a parameter group with `maxmemory-policy noeviction`: ElastiCache's
 * default (volatile-lru) evicts keys that have a TTL first, and locks and holds are exactly those.
 * With noeviction a full cache refuses writes (the purchase fails and says so) instead of silently
 * dropping a lock or a hold.
 */
import { Aws, Fn } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { RedisMode } from './deploy-settings.ts';

/** What a function needs to reach the cache: the network, the address and the credential. */
export interface RedisEndpoint extends ec2.IConnectable {
  readonly vpc: ec2.IVpc;
  /** The subnets a client must run in. */
  readonly clientSubnets: ec2.SubnetSelection;
  /**
   * The environment variables that tell a client where the cache is: REDIS_URL (TLS, no credentials
   * in it) or REDIS_CLUSTER_NODES (`host:port`), depending on the mode.
   */
  readonly clientEnvironment: Readonly<Record<string, string>>;
  /** The AUTH password, as the whole secret string. */
  readonly authSecret: secretsmanager.ISecret;
  /** Opens the cache's port to the client's security groups (and to nothing else). */
  allowClient(client: ec2.IConnectable, description: string): void;
}

export interface RedisCacheProps {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  readonly mode: RedisMode;
  /** Node type of the provisioned modes. */
  readonly nodeType: string;
  /** Replicas besides each primary. With at least one, a shard fails over across AZs on its own. */
  readonly replicas: number;
  /** Shards in `cluster` mode. */
  readonly shards: number;
}

/** The cache's metrics, grouped by what the dashboard and the alarms ask about. */
export interface CacheMetrics {
  /** CPU per node (provisioned: host and engine thread), or ECPUs consumed (serverless). */
  readonly cpu: cloudwatch.IMetric[];
  /** DatabaseMemoryUsagePercentage per node (provisioned), or bytes stored (serverless). */
  readonly memory: cloudwatch.IMetric[];
  readonly evictions: cloudwatch.IMetric[];
  readonly connections: cloudwatch.IMetric[];
  /** Commands ElastiCache Serverless throttled while it scaled (serverless only). */
  readonly throttledCommands: cloudwatch.IMetric[];
  /** True when `memory` is a percentage of the node's maxmemory (provisioned modes). */
  readonly memoryIsPercentage: boolean;
}

/** Valkey 8, the engine of every mode; the parameter group family follows the major version. */
const ENGINE_VERSION = '8.0';
const PARAMETER_GROUP_FAMILY = 'valkey8';

/** ElastiCache Serverless listens on 6379 (writes) and cannot be moved to another port. */
const SERVERLESS_PORT = 6379;

export class RedisCache extends Construct implements RedisEndpoint {
  /**
   * Not 6379: a non-default port costs nothing and turns away scans for the default one
   * (cdk-nag AwsSolutions-AEC5). Provisioned modes only.
   */
  static readonly PORT = 6380;

  readonly mode: RedisMode;
  readonly vpc: ec2.IVpc;
  readonly clientSubnets: ec2.SubnetSelection;
  readonly clientEnvironment: Readonly<Record<string, string>>;
  /** `host:port` of the endpoint clients connect to first. */
  readonly endpoint: string;
  readonly port: number;
  readonly authSecret: secretsmanager.Secret;
  readonly securityGroup: ec2.SecurityGroup;
  readonly connections: ec2.Connections;
  /** The provisioned modes' replication group. */
  readonly replicationGroup?: elasticache.CfnReplicationGroup;
  /** The provisioned modes' parameter group (noeviction). */
  readonly parameterGroup?: elasticache.CfnParameterGroup;
  /** The serverless mode's cache. */
  readonly serverlessCache?: elasticache.CfnServerlessCache;
  /** Member cache cluster ids of the provisioned modes: the `CacheClusterId` of their metrics. */
  private readonly memberClusterIds: string[];

  constructor(scope: Construct, id: string, props: RedisCacheProps) {
    super(scope, id);
    this.mode = props.mode;
    this.vpc = props.vpc;
    this.clientSubnets = props.subnets;
    this.port = props.mode === 'serverless' ? SERVERLESS_PORT : RedisCache.PORT;

    this.authSecret = new secretsmanager.Secret(this, 'AuthToken', {
      description: 'Password of the flash-sale Redis (ElastiCache)',
      // ElastiCache passwords are 16-128 printable characters without @, " or /: letters and
      // digits only keeps the token valid and URL-safe.
      generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
    });

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description:
        'Flash-sale Redis: reachable only from the functions that declare redis in shared/routes.ts',
      // The cache never opens connections.
      allowAllOutbound: false,
    });
    this.connections = new ec2.Connections({
      securityGroups: [this.securityGroup],
      defaultPort: ec2.Port.tcp(this.port),
    });
    const subnetIds = props.vpc.selectSubnets(props.subnets).subnetIds;

    if (props.mode === 'serverless') {
      this.serverlessCache = this.createServerlessCache(subnetIds);
      this.memberClusterIds = [];
      this.endpoint = `${this.serverlessCache.attrEndpointAddress}:${this.port}`;
      // Serverless speaks the cluster protocol, always over TLS.
      this.clientEnvironment = { REDIS_CLUSTER_NODES: this.endpoint, REDIS_TLS: 'true' };
      return;
    }

    const clusterMode = props.mode === 'cluster';
    this.parameterGroup = new elasticache.CfnParameterGroup(this, 'ParameterGroup', {
      description: 'Flash-sale Redis: never evict (locks and holds carry TTLs and must not be dropped)',
      cacheParameterGroupFamily: PARAMETER_GROUP_FAMILY,
      properties: {
        'maxmemory-policy': 'noeviction',
        ...(clusterMode ? { 'cluster-enabled': 'yes' } : {}),
      },
    });
    const subnetGroup = new elasticache.CfnSubnetGroup(this, 'SubnetGroup', {
      description: 'Isolated subnets of the flash-sale Redis',
      subnetIds,
    });

    const replicated = props.replicas >= 1;
    const shape: Partial<elasticache.CfnReplicationGroupProps> = clusterMode
      ? {
          clusterMode: 'enabled',
          numNodeGroups: props.shards,
          replicasPerNodeGroup: props.replicas,
          // Cluster mode requires automatic failover; Multi-AZ needs a replica to fail over to.
          automaticFailoverEnabled: true,
        }
      : { numCacheClusters: props.replicas + 1, automaticFailoverEnabled: replicated };

    const group = new elasticache.CfnReplicationGroup(this, 'ReplicationGroup', {
      replicationGroupDescription: 'Flash-sale live stock, holds and locks',
      engine: 'valkey',
      engineVersion: ENGINE_VERSION,
      cacheNodeType: props.nodeType,
      cacheParameterGroupName: this.parameterGroup.ref,
      port: this.port,
      ...shape,
      multiAzEnabled: replicated,
      cacheSubnetGroupName: subnetGroup.ref,
      securityGroupIds: [this.securityGroup.securityGroupId],
      transitEncryptionEnabled: true,
      atRestEncryptionEnabled: true,
      authToken: this.authSecret.secretValue.unsafeUnwrap(),
      // No snapshots: DynamoDB is the system of record and the reconciler restores lost stock from
      // it, while a snapshot's fork would add latency in the middle of a sale.
      snapshotRetentionLimit: 0,
    });
    this.replicationGroup = group;

    // ElastiCache names the member clusters after the group: <id>-001... without cluster mode,
    // <id>-0001-001... (shard, then node) with it. Their metrics carry these names.
    const pad = (n: number, width: number) => String(n).padStart(width, '0');
    const nodesPerShard = props.replicas + 1;
    this.memberClusterIds = clusterMode
      ? Array.from({ length: props.shards }, (_, s) =>
          Array.from({ length: nodesPerShard }, (_, n) => `${group.ref}-${pad(s + 1, 4)}-${pad(n + 1, 3)}`),
        ).flat()
      : Array.from({ length: nodesPerShard }, (_, n) => `${group.ref}-${pad(n + 1, 3)}`);

    if (clusterMode) {
      this.endpoint = `${group.attrConfigurationEndPointAddress}:${this.port}`;
      // The configuration endpoint: ioredis discovers every shard from it; in-transit encryption is on.
      this.clientEnvironment = { REDIS_CLUSTER_NODES: this.endpoint, REDIS_TLS: 'true' };
    } else {
      this.endpoint = `${group.attrPrimaryEndPointAddress}:${this.port}`;
      this.clientEnvironment = { REDIS_URL: `rediss://${this.endpoint}` };
    }
  }

  /**
   * ElastiCache Serverless takes no AUTH token: its password belongs to a user named `default` in a
   * user group, which is what a client's plain `AUTH <password>` authenticates as.
   *
   * The cache, the user and the group need physical names (CloudFormation generates none for these
   * types). They are derived from the stack's id at deploy time, so two stages never collide and no
   * name is written down anywhere.
   */
  private createServerlessCache(subnetIds: string[]): elasticache.CfnServerlessCache {
    const stackUuid = Fn.select(2, Fn.split('/', Aws.STACK_ID));
    const user = new elasticache.CfnUser(this, 'DefaultUser', {
      engine: 'valkey',
      userId: `fs-user-${stackUuid}`,
      userName: 'default',
      // Every key, every command: the same reach the AUTH token gives the provisioned modes.
      accessString: 'on ~* &* +@all',
      authenticationMode: { Type: 'password', Passwords: [this.authSecret.secretValue.unsafeUnwrap()] },
    });
    const userGroup = new elasticache.CfnUserGroup(this, 'UserGroup', {
      engine: 'valkey',
      userGroupId: `fs-users-${stackUuid}`,
      userIds: [user.ref],
    });
    return new elasticache.CfnServerlessCache(this, 'ServerlessCache', {
      engine: 'valkey',
      majorEngineVersion: ENGINE_VERSION.split('.')[0],
      serverlessCacheName: `fs-${stackUuid}`,
      description: 'Flash-sale live stock, holds and locks',
      subnetIds,
      securityGroupIds: [this.securityGroup.securityGroupId],
      userGroupId: userGroup.ref,
      // No snapshots, as for the provisioned modes: DynamoDB is the system of record.
      snapshotRetentionLimit: 0,
    });
  }

  /**
   * An ingress rule per client security group. Only ingress: clients keep their all-outbound egress
   * (see EndpointFunction), so an egress rule on their side would be redundant.
   */
  allowClient(client: ec2.IConnectable, description: string): void {
    for (const clientGroup of client.connections.securityGroups) {
      this.securityGroup.addIngressRule(clientGroup, ec2.Port.tcp(this.port), description);
    }
  }

  /** The cache's CloudWatch metrics, one series per node for the provisioned modes. */
  metrics(period: cloudwatch.MetricOptions['period']): CacheMetrics {
    const metric = (metricName: string, statistic: string, dimensionsMap: Record<string, string>) =>
      new cloudwatch.Metric({ namespace: 'AWS/ElastiCache', metricName, statistic, period, dimensionsMap });

    if (this.serverlessCache) {
      // Serverless caches publish under the `clusterId` dimension, not `CacheClusterId`.
      const dims = { clusterId: this.serverlessCache.ref };
      return {
        cpu: [metric('ElastiCacheProcessingUnits', 'Sum', dims)],
        memory: [metric('BytesUsedForCache', 'Maximum', dims)],
        evictions: [metric('Evictions', 'Sum', dims)],
        connections: [metric('CurrConnections', 'Maximum', dims)],
        throttledCommands: [metric('ThrottledCmds', 'Sum', dims)],
        memoryIsPercentage: false,
      };
    }
    const perNode = (metricName: string, statistic: string) =>
      this.memberClusterIds.map((clusterId) => metric(metricName, statistic, { CacheClusterId: clusterId }));
    return {
      // The engine is single-threaded: EngineCPUUtilization is the saturation signal on nodes with
      // several vCPUs, CPUUtilization on the small ones.
      cpu: [...perNode('EngineCPUUtilization', 'Maximum'), ...perNode('CPUUtilization', 'Maximum')],
      memory: perNode('DatabaseMemoryUsagePercentage', 'Maximum'),
      evictions: perNode('Evictions', 'Sum'),
      connections: perNode('CurrConnections', 'Maximum'),
      throttledCommands: [],
      memoryIsPercentage: true,
    };
  }
}
