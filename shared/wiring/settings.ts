/** The configuration every provider reads: parsed once per process (shared/config.ts). */
import { type Config, config, required, TABLE_ENV, type TableName } from '../config.ts';
import { keyNamespace } from '../redis.ts';

export const settings = (): Config => config();

/** A table's name, read when needed; a missing binding throws naming its variable. */
export const tableName = (table: TableName) => () => required(settings(), TABLE_ENV[table]);

/** This store's Redis key prefix (shared/redis.ts). */
export const namespace = (): string => keyNamespace(settings().STORE_ID);
