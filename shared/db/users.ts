/**
 * Users in DynamoDB. Usernames are unique by a conditional write: the user row and a
 * `USERNAME#<name>` guard row are written in one transaction, the guard only if it does not exist.
 * Names compare case-insensitively (the guard is keyed by the lower-cased name).
 */
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { UserStore } from '../auth/accounts.ts';
import { UsernameTakenError } from '../auth/errors.ts';
import type { AuditEntry, Role, UserRecord } from '../model.ts';
import { auditPut } from './audit.ts';
import { nextInSequence } from './counters.ts';
import type { TableRef } from './tables.ts';
import { cancellationCodes, transactWrite } from './transactions.ts';

const userKey = (id: number) => `USER#${id}`;
const usernameKey = (username: string) => `USERNAME#${username.toLowerCase()}`;

export class UserRepository implements UserStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly tableName: string,
    /** The audit log, for role changes (its name is read only when a role changes). */
    private readonly auditTable: TableRef = 'audit',
  ) {}

  nextId(): Promise<number> {
    return nextInSequence(this.doc, this.tableName, { pk: 'SEQUENCE' });
  }

  /** Throws UsernameTakenError when the name (in any letter case) exists. */
  async create(user: UserRecord): Promise<void> {
    try {
      await transactWrite(this.doc, {
        TransactItems: [
          {
            Put: {
              TableName: this.tableName,
              Item: { pk: usernameKey(user.username), user_id: user.id },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
          {
            Put: {
              TableName: this.tableName,
              Item: { pk: userKey(user.id), ...user },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
        ],
      });
    } catch (error) {
      if (cancellationCodes(error)?.[0] === 'ConditionalCheckFailed')
        throw new UsernameTakenError(user.username);
      throw error;
    }
  }

  async getById(id: number): Promise<UserRecord | null> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: userKey(id) } }),
    );
    if (!Item) return null;
    const { pk: _pk, ...user } = Item;
    return user as UserRecord;
  }

  async getByUsername(username: string): Promise<UserRecord | null> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: usernameKey(username) }, ConsistentRead: true }),
    );
    return Item ? this.getById(Number(Item.user_id)) : null;
  }

  /** Set a user's password hash and role (the admin script's "create or update"). */
  async updateCredentials(id: number, passwordHash: string, role: Role, now: string): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: userKey(id) },
        UpdateExpression: 'SET password_hash = :h, #role = :r, updated_at = :now',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#role': 'role' },
        ExpressionAttributeValues: { ':h': passwordHash, ':r': role, ':now': now },
      }),
    );
  }

  /** The role as stored now (a strongly consistent read): what an admin route checks. */
  async roleOf(id: number): Promise<Role | null> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: userKey(id) },
        ConsistentRead: true,
        ProjectionExpression: '#role',
        ExpressionAttributeNames: { '#role': 'role' },
      }),
    );
    return (Item?.role as Role | undefined) ?? null;
  }

  /** Change a user's role with its audit row, in one transaction. False when the user does not exist. */
  async setRole(id: number, role: Role, audit: AuditEntry): Promise<boolean> {
    try {
      await transactWrite(this.doc, {
        ClientRequestToken: audit.id,
        TransactItems: [
          {
            Update: {
              TableName: this.tableName,
              Key: { pk: userKey(id) },
              UpdateExpression: 'SET #role = :r, updated_at = :now',
              ConditionExpression: 'attribute_exists(pk)',
              ExpressionAttributeNames: { '#role': 'role' },
              ExpressionAttributeValues: { ':r': role, ':now': audit.at },
            },
          },
          auditPut(this.auditTable, audit),
        ],
      });
      return true;
    } catch (error) {
      if (cancellationCodes(error)?.[0] === 'ConditionalCheckFailed') return false;
      throw error;
    }
  }
}
