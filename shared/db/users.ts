/**
 * Users in DynamoDB. Usernames are unique by a conditional write: the user row and a
 * `USERNAME#<name>` guard row are written in one transaction, the guard only if it does not exist.
 * Names compare case-insensitively (the guard is keyed by the lower-cased name).
 *
 * Ids come from SEQUENCE_SHARDS counters (`SEQUENCE#0` … `SEQUENCE#15`), one picked at random per
 * sign-up: a crowd signing up at once spreads its writes over sixteen items instead of queueing on
 * one hot item (DynamoDB's per-item limit of about 1,000 writes a second). Counter n of shard k gives
 * id n × 16 + k, so the ids of different shards never meet.
 */
import { randomInt } from 'node:crypto';
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

export const SEQUENCE_SHARDS = 16;

export class UserRepository implements UserStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly tableName: string,
    /** The audit log, for role changes (its name is read only when a role changes). */
    private readonly auditTable: TableRef = 'audit',
  ) {}

  async nextId(): Promise<number> {
    const shard = randomInt(SEQUENCE_SHARDS);
    const n = await nextInSequence(this.doc, this.tableName, { pk: `SEQUENCE#${shard}` });
    return n * SEQUENCE_SHARDS + shard;
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

  /**
   * Set a user's password hash and role (the admin script's "create or update") and raise the token
   * version; answers the new version.
   */
  async updateCredentials(id: number, passwordHash: string, role: Role, now: string): Promise<number> {
    return this.update(id, 'password_hash = :h, #role = :r', { ':h': passwordHash, ':r': role }, now);
  }

  /**
   * Change a user's role and raise the token version, without an audit row (the admin API's role
   * change is `setRole`, audited); null when there is no such user.
   */
  async changeRoleUnaudited(id: number, role: Role, now: string): Promise<number | null> {
    try {
      return await this.update(id, '#role = :r', { ':r': role }, now);
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') return null;
      throw error;
    }
  }

  private async update(
    id: number,
    set: string,
    values: Record<string, unknown>,
    now: string,
  ): Promise<number> {
    const { Attributes } = await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: userKey(id) },
        UpdateExpression: `SET ${set}, updated_at = :now ADD token_version :one`,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#role': 'role' },
        ExpressionAttributeValues: { ...values, ':now': now, ':one': 1 },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(Attributes?.token_version);
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
              // A new token version: tokens issued before the change stop working on admin routes.
              UpdateExpression: 'SET #role = :r, updated_at = :now ADD token_version :one',
              ConditionExpression: 'attribute_exists(pk)',
              ExpressionAttributeNames: { '#role': 'role' },
              ExpressionAttributeValues: { ':r': role, ':now': audit.at, ':one': 1 },
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
