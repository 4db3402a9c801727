/**
 * The private network the Redis cache lives in: two AZs of isolated subnets (no NAT gateway, no
 * internet route), reaching DynamoDB through a gateway endpoint and Secrets Manager through an
 * interface endpoint, with flow logs of rejected traffic.
 */
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface NetworkProps {
  readonly logRetention: logs.RetentionDays;
}

/**
 * A literal rather than the VPC's CidrBlock attribute, so rules that mention it stay plain values
 * that checks (cdk-nag's EC23) can read.
 */
const VPC_CIDR = '10.0.0.0/16';

export class Network extends Construct {
  readonly vpc: ec2.Vpc;
  /** Where the cache nodes and the Redis-using functions go. */
  readonly isolatedSubnets: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(VPC_CIDR),
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      // Rejected traffic is the security signal; ALL would log every Redis round trip of a sale.
      flowLogs: {
        rejected: {
          trafficType: ec2.FlowLogTrafficType.REJECT,
          destination: ec2.FlowLogDestination.toCloudWatchLogs(
            new logs.LogGroup(this, 'FlowLogs', {
              retention: props.logRetention,
            }),
          ),
        },
      },
    });

    // Functions in the VPC read DynamoDB (free gateway endpoint) and their secrets at cold start
    // (interface endpoint, private DNS so the SDK's default endpoint resolves to it).
    this.vpc.addGatewayEndpoint('DynamoDb', {
      service: ec2.GatewayVpcEndpointAwsService.DYNAMODB,
      subnets: [this.isolatedSubnets],
    });
    const secretsManager = this.vpc.addInterfaceEndpoint('SecretsManager', {
      service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
      subnets: this.isolatedSubnets,
      privateDnsEnabled: true,
      open: false,
    });
    secretsManager.connections.allowDefaultPortFrom(ec2.Peer.ipv4(VPC_CIDR), 'HTTPS from inside the VPC');
  }
}
