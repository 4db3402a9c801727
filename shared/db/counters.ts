/** Integer ids from an atomic counter item: ADD is atomic under any concurrency. */
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';

/** The next value of the counter stored in the item at `key` of `tableName`. */
export async function nextInSequence(
  doc: DynamoDBDocumentClient,
  tableName: string,
  key: Record<string, string | number>,
): Promise<number> {
  const { Attributes } = await doc.send(
    new UpdateCommand({
      TableName: tableName,
      Key: key,
      UpdateExpression: 'ADD next_id :one',
      ExpressionAttributeValues: { ':one': 1 },
      ReturnValues: 'UPDATED_NEW',
    }),
  );
  return Number(Attributes?.next_id);
}
