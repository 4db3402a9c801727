/**
 * The lock-and-stock store: an ElastiCache (Valkey, Redis-compatible) replication group in the
 * isolated subnets, TLS in transit, encrypted at rest, behind an AUTH token that Secrets Manager
 * generates. The token reaches CloudFormation as a `{{resolve:secretsmanager:...}}` dynamic
 * reference, so it never appears in the template, and the functions read it from the secret at
 * cold start.
 */
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/** What a function needs to reach the cache: the network, the address and the credential. */
export interface RedisEndpoint extends ec2.IConnectable {
  readonly vpc: ec2.IVpc;
  /** The subnets a client must run in. */
  readonly clientSubnets: ec2.SubnetSelection;
  /** `rediss://<primary endpoint>:<port>`: TLS, no credentials in it. */
  readonly url: string;
  readonly port: number;
  /** The AUTH token, as the whole secret string. */
  readonly authSecret: secretsmanager.ISecret;
  /** Opens the cache's port to the client's security groups (and to nothing else). */
  allowClient(client: ec2.IConnectable, description: string): void;
}

export interface RedisCacheProps {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  readonly nodeType: string;
  /** Replicas besides the primary. With at least one, the group fails over across AZs on its own. */
  readonly replicas: number;
}

export class RedisCache extends Construct implements RedisEndpoint {
  /**
   * Not 6379: a non-default port costs nothing and turns away scans for the default one
   * (cdk-nag AwsSolutions-AEC5).
   */
  static readonly PORT = 6380;

  readonly vpc: ec2.IVpc;
  readonly clientSubnets: ec2.SubnetSelection;
  readonly url: string;
  readonly port = RedisCache.PORT;
  readonly authSecret: secretsmanager.Secret;
  readonly securityGroup: ec2.SecurityGroup;
  readonly connections: ec2.Connections;
  readonly replicationGroup: elasticache.CfnReplicationGroup;

  constructor(scope: Construct, id: string, props: RedisCacheProps) {
    super(scope, id);
    this.vpc = props.vpc;
    this.clientSubnets = props.subnets;

    this.authSecret = new secretsmanager.Secret(this, 'AuthToken', {
      description: 'AUTH token of the flash-sale Redis (ElastiCache) replication group',
      // ElastiCache AUTH tokens are 16-128 printable characters without @, " or /: letters and
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

    const subnetGroup = new elasticache.CfnSubnetGroup(this, 'SubnetGroup', {
      description: 'Isolated subnets of the flash-sale Redis',
      subnetIds: props.vpc.selectSubnets(props.subnets).subnetIds,
    });

    const replicated = props.replicas >= 1;
    this.replicationGroup = new elasticache.CfnReplicationGroup(this, 'ReplicationGroup', {
      replicationGroupDescription: 'Flash-sale live stock, holds and locks',
      engine: 'valkey',
      engineVersion: '8.0',
      cacheNodeType: props.nodeType,
      port: this.port,
      numCacheClusters: props.replicas + 1,
      automaticFailoverEnabled: replicated,
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

    this.url = `rediss://${this.replicationGroup.attrPrimaryEndPointAddress}:${this.port}`;
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
}
