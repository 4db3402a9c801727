/**
 * The DynamoDB tables, deployed from the shapes in shared/db/tables.ts (the same description the
 * local runtime creates in DynamoDB Local). No table names: CloudFormation generates them and the
 * functions receive them through their environment.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import type { TableName } from '#shared/routes';
import { type KeyAttribute, tableDefinitions } from '../shared/db/tables.ts';

function attribute(key: KeyAttribute): dynamodb.Attribute {
  return {
    name: key.name,
    type: key.type === 'N' ? dynamodb.AttributeType.NUMBER : dynamodb.AttributeType.STRING,
  };
}

export class DataTables extends Construct {
  readonly tables: Readonly<Record<TableName, dynamodb.Table>>;

  constructor(scope: Construct, id: string) {
    super(scope, id);

    const entries = Object.entries(tableDefinitions) as [TableName, (typeof tableDefinitions)[TableName]][];
    this.tables = Object.fromEntries(
      entries.map(([name, definition]) => {
        const table = new dynamodb.Table(this, name, {
          partitionKey: attribute(definition.partitionKey),
          sortKey: definition.sortKey && attribute(definition.sortKey),
          // Flash sales are spiky by nature: on-demand absorbs the spike without capacity planning.
          billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
          pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
          // AWS-managed KMS key (aws/dynamodb): encryption visible in the template and key use in
          // CloudTrail, without a customer key's monthly cost and key-policy upkeep. Nothing here
          // needs cross-account access or crypto-shredding, the reasons to own the key.
          encryption: dynamodb.TableEncryption.AWS_MANAGED,
          // Purchases and users are the system of record: never deleted with the stack.
          removalPolicy: RemovalPolicy.RETAIN,
          deletionProtection: true,
        });
        for (const index of definition.globalSecondaryIndexes) {
          table.addGlobalSecondaryIndex({
            indexName: index.indexName,
            partitionKey: attribute(index.partitionKey),
            sortKey: index.sortKey && attribute(index.sortKey),
            ...(index.nonKeyAttributes
              ? {
                  projectionType: dynamodb.ProjectionType.INCLUDE,
                  nonKeyAttributes: [...index.nonKeyAttributes],
                }
              : { projectionType: dynamodb.ProjectionType.ALL }),
          });
        }
        return [name, table];
      }),
    ) as Record<TableName, dynamodb.Table>;
  }
}
