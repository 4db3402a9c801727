/**
 * The token keys: ES256 (ECDSA on P-256) key pairs as JWKs, each named by a `kid`.
 *
 * Only the login function holds the private key (JWT_SIGNING_KEY, or the JwtSigningKey secret when
 * deployed). Every function that verifies gets the public keys alone (JWT_VERIFY_KEYS, or the
 * JwtVerifyKeys secret): a list, so that during a rotation the key that signs now and the one that
 * signed the tokens still in circulation are both accepted. A verifier can check a token but never
 * mint one, whatever else goes wrong in it.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';

export const TOKEN_ALGORITHM = 'ES256';

/** The JWK members this service reads and writes (RFC 7517/7518). */
export interface EcJwk {
  readonly kty: 'EC';
  readonly crv: 'P-256';
  readonly x: string;
  readonly y: string;
  /** The private scalar: present in the signing key only. */
  readonly d?: string;
  readonly kid: string;
  readonly alg: typeof TOKEN_ALGORITHM;
  readonly use: 'sig';
}

export type SigningJwk = EcJwk & { readonly d: string };

/** A key id that sorts by creation time: `2026-11-28-<random>`. */
function newKid(now: Date): string {
  return `${now.toISOString().slice(0, 10)}-${randomBytes(6).toString('hex')}`;
}

export function newSigningKey(now = new Date()): SigningJwk {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  return {
    kty: 'EC',
    crv: 'P-256',
    x: String(jwk.x),
    y: String(jwk.y),
    d: String(jwk.d),
    kid: newKid(now),
    alg: TOKEN_ALGORITHM,
    use: 'sig',
  };
}

/** The public half of a signing key: what verifiers are given. */
export function publicKeyOf(key: EcJwk): EcJwk {
  const { d: _private, ...publicPart } = key;
  return publicPart;
}

export class InvalidKeyError extends Error {
  override readonly name = 'InvalidKeyError';
}

function asEcJwk(value: unknown, where: string): EcJwk {
  const key = value as Partial<EcJwk> | null;
  if (
    typeof key !== 'object' ||
    key === null ||
    key.kty !== 'EC' ||
    key.crv !== 'P-256' ||
    typeof key.x !== 'string' ||
    typeof key.y !== 'string' ||
    typeof key.kid !== 'string' ||
    key.kid.length === 0
  ) {
    throw new InvalidKeyError(`${where} is not a P-256 JWK with a kid`);
  }
  return {
    kty: 'EC',
    crv: 'P-256',
    x: key.x,
    y: key.y,
    ...(typeof key.d === 'string' && { d: key.d }),
    kid: key.kid,
    alg: TOKEN_ALGORITHM,
    use: 'sig',
  };
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new InvalidKeyError(`${where} is not JSON (run npm run rotate-keys to create the keys)`);
  }
}

/** The signing key from its JSON text; refuses a key without its private part. */
export function parseSigningKey(text: string): SigningJwk {
  const key = asEcJwk(parseJson(text, 'The signing key'), 'The signing key');
  if (!key.d) throw new InvalidKeyError('The signing key has no private part (d)');
  // Refuse a key whose halves do not belong together now, rather than at the first login.
  try {
    createPrivateKey({ key: { ...key }, format: 'jwk' });
  } catch (error) {
    throw new InvalidKeyError('The signing key is not a valid P-256 key', { cause: error });
  }
  return key as SigningJwk;
}

/** The verification keys: a JSON array of public JWKs (a private part is dropped, never used). */
export function parseVerifyKeys(text: string): EcJwk[] {
  const value = parseJson(text, 'The verification keys');
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new InvalidKeyError('The verification keys list is empty');
  return list.map((key, i) => publicKeyOf(asEcJwk(key, `Verification key ${i}`)));
}
