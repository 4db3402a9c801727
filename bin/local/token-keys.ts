/**
 * The local runtime's token keys, kept in `.data/token-keys.json` (mode 600): the key that signs now
 * and the one before it. `npm start` hands the signing key to the functions as JWT_SIGNING_KEY and
 * both public halves as JWT_VERIFY_KEYS, so after `npm run rotate-keys` and a restart the tokens
 * issued before still verify until they expire, and new ones are signed with the new key.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newSigningKey, parseSigningKey, publicKeyOf, type SigningJwk } from '../../shared/auth/keys.ts';

export interface KeyStore {
  readonly current: SigningJwk;
  readonly previous?: SigningJwk;
}

export const keyStorePath = (dataDir: string) => join(dataDir, 'token-keys.json');

function read(dataDir: string): KeyStore | undefined {
  const file = keyStorePath(dataDir);
  if (!existsSync(file)) return undefined;
  const stored = JSON.parse(readFileSync(file, 'utf8')) as { current: unknown; previous?: unknown };
  return {
    current: parseSigningKey(JSON.stringify(stored.current)),
    ...(stored.previous !== undefined && { previous: parseSigningKey(JSON.stringify(stored.previous)) }),
  };
}

function write(dataDir: string, store: KeyStore): void {
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(keyStorePath(dataDir), `${JSON.stringify(store, null, 2)}\n`, { mode: 0o600 });
}

export function loadOrCreateKeys(dataDir: string): KeyStore {
  const existing = read(dataDir);
  if (existing) return existing;
  const created = { current: newSigningKey() };
  write(dataDir, created);
  return created;
}

/** A new current key; the current one becomes the previous (still verifying); the older one goes. */
export function rotateKeys(dataDir: string): KeyStore {
  const existing = read(dataDir);
  const rotated: KeyStore = { current: newSigningKey(), ...(existing && { previous: existing.current }) };
  write(dataDir, rotated);
  return rotated;
}

/** The environment the functions read (shared/config.ts). */
export function keyEnvironment(store: KeyStore): { JWT_SIGNING_KEY: string; JWT_VERIFY_KEYS: string } {
  const verify = [store.current, ...(store.previous ? [store.previous] : [])].map(publicKeyOf);
  return { JWT_SIGNING_KEY: JSON.stringify(store.current), JWT_VERIFY_KEYS: JSON.stringify(verify) };
}
