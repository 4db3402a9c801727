/**
 * The token providers. Verifying is every authenticated route's, with the public keys alone; signing
 * is login's, with the private key. Each key is read once per container (Secrets Manager values are
 * cached for five minutes, so a rotation reaches every container within that) and imported once.
 */
import { type EcJwk, parseSigningKey, parseVerifyKeys, publicKeyOf } from '../auth/keys.ts';
import { TokenSigner, TokenVerifier } from '../auth/tokens.ts';
import type { Config } from '../config.ts';
import { provider } from './provider.ts';
import { secretString } from './secrets.ts';
import { settings } from './settings.ts';

/** The same parsed value while the text is the same: parsing is cheap, but not per request. */
function parsedBy<T>(parse: (text: string) => T): (text: string) => T {
  let last: { text: string; value: T } | undefined;
  return (text) => {
    if (last?.text !== text) last = { text, value: parse(text) };
    return last.value;
  };
}

function verifyKeys(cfg: Config): () => Promise<readonly EcJwk[]> {
  const parse = parsedBy(parseVerifyKeys);
  if (cfg.JWT_VERIFY_KEYS_ARN) {
    const arn = cfg.JWT_VERIFY_KEYS_ARN;
    return async () => parse(await secretString(arn));
  }
  if (cfg.JWT_VERIFY_KEYS) {
    const keys = parse(cfg.JWT_VERIFY_KEYS);
    return async () => keys;
  }
  // Local only (config.ts refuses it deployed): the signing key's public half.
  if (cfg.STAGE === 'local' && cfg.JWT_SIGNING_KEY) {
    const keys = [publicKeyOf(parseSigningKey(cfg.JWT_SIGNING_KEY))];
    return async () => keys;
  }
  return () => Promise.reject(new Error('Set JWT_VERIFY_KEYS (local) or JWT_VERIFY_KEYS_ARN (AWS)'));
}

export const tokenVerifier = provider('token-verifier', { jwt: 'verify' }, [], () => {
  const cfg = settings();
  return new TokenVerifier(verifyKeys(cfg), {
    issuer: cfg.JWT_ISSUER,
    audience: cfg.JWT_AUDIENCE,
    maxAgeSeconds: cfg.JWT_MAX_AGE_SECONDS,
  });
});

export const tokenSigner = provider('token-signer', { jwt: 'sign' }, [], () => {
  const cfg = settings();
  const parse = parsedBy(parseSigningKey);
  const arn = cfg.JWT_SIGNING_KEY_ARN;
  const local = cfg.JWT_SIGNING_KEY;
  const key = arn
    ? async () => parse(await secretString(arn))
    : local
      ? async () => parse(local)
      : () => Promise.reject(new Error('Set JWT_SIGNING_KEY (local) or JWT_SIGNING_KEY_ARN (AWS)'));
  return new TokenSigner(key, {
    issuer: cfg.JWT_ISSUER,
    audience: cfg.JWT_AUDIENCE,
    ttlSeconds: cfg.JWT_TTL_SECONDS,
  });
});
