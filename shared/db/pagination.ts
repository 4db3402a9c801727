/**
 * Every page of a Query or Scan: DynamoDB answers at most 1 MB per call and says where to go on.
 * One loop for every repository that needs a whole result.
 */
import {
  type DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
  type ScanCommandInput,
} from '@aws-sdk/lib-dynamodb';

type PageInput = Omit<QueryCommandInput, 'ExclusiveStartKey'> | Omit<ScanCommandInput, 'ExclusiveStartKey'>;

/** Yields each page's items; a Query when the input has a key condition, a Scan otherwise. */
export async function* allPages(
  doc: DynamoDBDocumentClient,
  input: PageInput,
): AsyncGenerator<Record<string, unknown>[]> {
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page =
      'KeyConditionExpression' in input && input.KeyConditionExpression
        ? await doc.send(new QueryCommand({ ...(input as QueryCommandInput), ExclusiveStartKey }))
        : await doc.send(new ScanCommand({ ...(input as ScanCommandInput), ExclusiveStartKey }));
    yield (page.Items ?? []) as Record<string, unknown>[];
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
}
