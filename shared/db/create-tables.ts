/**
 * Creates the tables from `tableDefinitions` (the same shapes the CDK stack deploys) on DynamoDB
 * Local or LocalStack. Used by the local runtime and the test setup; in AWS, CloudFormation does it.
 */
import {
  type AttributeDefinition,
  CreateTableCommand,
  type DynamoDBClient,
  ListTablesCommand,
  ResourceInUseException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import type { TableName } from '../routes.ts';
import { type KeyAttribute, tableDefinitions } from './tables.ts';

export async function createTables(
  client: DynamoDBClient,
  /** Physical names; a table left out gets its logical name (the config defaults are the same). */
  names: Partial<Record<TableName, string>>,
): Promise<string[]> {
  const existing = new Set((await client.send(new ListTablesCommand({}))).TableNames ?? []);
  const created: string[] = [];
  for (const [table, definition] of Object.entries(tableDefinitions) as [
    TableName,
    (typeof tableDefinitions)[TableName],
  ][]) {
    const TableName = names[table] ?? table;
    if (existing.has(TableName)) continue;
    const attributes = new Map<string, KeyAttribute>();
    const keys = [
      definition.partitionKey,
      definition.sortKey,
      ...definition.globalSecondaryIndexes.flatMap((i) => [i.partitionKey, i.sortKey]),
    ];
    for (const key of keys) if (key) attributes.set(key.name, key);
    try {
      await client.send(
        new CreateTableCommand({
          TableName,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [...attributes.values()].map(
            (a): AttributeDefinition => ({ AttributeName: a.name, AttributeType: a.type }),
          ),
          KeySchema: [
            { AttributeName: definition.partitionKey.name, KeyType: 'HASH' },
            ...(definition.sortKey
              ? [{ AttributeName: definition.sortKey.name, KeyType: 'RANGE' as const }]
              : []),
          ],
          ...(definition.globalSecondaryIndexes.length > 0 && {
            GlobalSecondaryIndexes: definition.globalSecondaryIndexes.map((index) => ({
              IndexName: index.indexName,
              KeySchema: [
                { AttributeName: index.partitionKey.name, KeyType: 'HASH' as const },
                ...(index.sortKey ? [{ AttributeName: index.sortKey.name, KeyType: 'RANGE' as const }] : []),
              ],
              Projection: index.nonKeyAttributes
                ? { ProjectionType: 'INCLUDE' as const, NonKeyAttributes: [...index.nonKeyAttributes] }
                : { ProjectionType: 'ALL' as const },
            })),
          }),
        }),
      );
      await waitUntilTableExists({ client, maxWaitTime: 30 }, { TableName });
      created.push(TableName);
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error;
    }
  }
  return created;
}
