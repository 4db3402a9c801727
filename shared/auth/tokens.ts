/**
 * Access tokens: ES256 (jose) with the algorithm pinned, a `kid` naming the key, `typ: at+jwt`
 * (RFC 9068) and exp, iat, iss, aud and sub required, plus a maximum age counted from `iat`. So
 * `alg: none`, HS256 and other algorithms, forged signatures, unknown keys, other token types,
 * expired, too old and foreign tokens all fail the same way.
 *
 * Signing and verifying are two classes with two key sources: the login function alone builds a
 * TokenSigner (the private key); every other function builds a TokenVerifier (public keys only).
 */
import { type CryptoKey, importJWK, type JWTHeaderParameters, jwtVerify, SignJWT } from 'jose';
import type { Role } from '../model.ts';
import { NotAuthenticatedError } from './errors.ts';
import { type EcJwk, type SigningJwk, TOKEN_ALGORITHM } from './keys.ts';

/** RFC 9068's media type for JWT access tokens: an ID token or other JWT is not accepted here. */
export const TOKEN_TYPE = 'at+jwt';

export interface TokenSettings {
  readonly issuer: string;
  readonly audience: string;
  readonly ttlSeconds: number;
  /** Tokens issued longer ago than this are refused, whatever their `exp` says. */
  readonly maxAgeSeconds: number;
}

export interface Principal {
  readonly userId: number;
  readonly username: string;
  readonly role: Role;
  /** The user's token version when the token was issued; admin routes compare it with the table. */
  readonly tokenVersion: number;
}

export interface IssuedToken {
  readonly access_token: string;
  readonly token_type: 'bearer';
  readonly expires_in: number;
}

/** Where the keys come from: a local setting, or Secrets Manager in AWS (cached per container). */
export type SigningKeySource = () => Promise<SigningJwk>;
export type VerifyKeySource = () => Promise<readonly EcJwk[]>;

/** Imported keys per container: importing is the expensive part, the JWK text is cached upstream. */
class KeyCache {
  private readonly imported = new Map<string, Promise<CryptoKey>>();

  get(jwk: EcJwk): Promise<CryptoKey> {
    // Keyed by kid and the public point, so a kid reused for another key is never confused with it.
    const id = `${jwk.kid}:${jwk.x}:${jwk.y}:${jwk.d ? 'private' : 'public'}`;
    let key = this.imported.get(id);
    if (!key) {
      key = importJWK({ ...jwk }, TOKEN_ALGORITHM) as Promise<CryptoKey>;
      key.catch(() => this.imported.delete(id));
      this.imported.set(id, key);
    }
    return key;
  }
}

export class TokenSigner {
  private readonly keys = new KeyCache();

  constructor(
    private readonly key: SigningKeySource,
    private readonly settings: Pick<TokenSettings, 'issuer' | 'audience' | 'ttlSeconds'>,
  ) {}

  async issue(principal: Principal): Promise<IssuedToken> {
    const jwk = await this.key();
    const token = await new SignJWT({
      username: principal.username,
      role: principal.role,
      ver: principal.tokenVersion,
    })
      .setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: TOKEN_TYPE, kid: jwk.kid })
      .setSubject(String(principal.userId))
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.audience)
      .setIssuedAt()
      .setExpirationTime(`${this.settings.ttlSeconds}s`)
      .sign(await this.keys.get(jwk));
    return { access_token: token, token_type: 'bearer', expires_in: this.settings.ttlSeconds };
  }
}

/** A verified token's principal and what must still hold each time it is used again. */
interface Verified {
  readonly principal: Principal;
  readonly kid: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

/** Tokens verified per container, at most: a crowd's worth of buyers, a few MB. */
const VERIFIED_TOKENS = 20_000;

export class TokenVerifier {
  private readonly keys = new KeyCache();
  /**
   * Tokens whose signature this container has checked, by their exact text (the signature is part
   * of it, so a changed token is a different entry). A buyer's retries during a sale reuse one
   * token: its ECDSA check, the costliest step of a refusal, is done once; the time claims and the
   * key (still among the verification keys, so a retired key's tokens stop at once) are checked on
   * every use.
   */
  private readonly verified = new Map<string, Verified>();

  constructor(
    private readonly source: VerifyKeySource,
    private readonly settings: Pick<TokenSettings, 'issuer' | 'audience' | 'maxAgeSeconds'>,
  ) {}

  private async keyFor(header: JWTHeaderParameters): Promise<CryptoKey> {
    const jwk = header.kid ? (await this.source()).find((k) => k.kid === header.kid) : undefined;
    if (!jwk) throw new Error(`no verification key for kid ${JSON.stringify(header.kid)}`);
    return this.keys.get(jwk);
  }

  /** The principal of a valid token; NotAuthenticatedError for anything else. */
  async verify(token: string): Promise<Principal> {
    const known = this.verified.get(token);
    // A key source that fails here fails the full check below the same way: 401, as before.
    if (known) {
      if (await this.stillValid(known).catch(() => false)) return known.principal;
      this.verified.delete(token);
    }
    try {
      const { payload, protectedHeader } = await jwtVerify(token, (header) => this.keyFor(header), {
        algorithms: [TOKEN_ALGORITHM],
        typ: TOKEN_TYPE,
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        maxTokenAge: this.settings.maxAgeSeconds,
        requiredClaims: ['exp', 'iat', 'sub'],
      });
      const userId = Number(payload.sub);
      const { role, ver } = payload;
      if (
        !Number.isSafeInteger(userId) ||
        userId <= 0 ||
        (role !== 'user' && role !== 'admin') ||
        typeof ver !== 'number' ||
        !Number.isSafeInteger(ver) ||
        ver < 0
      ) {
        throw new Error('token claims have the wrong shape');
      }
      const principal: Principal = { userId, username: String(payload.username), role, tokenVersion: ver };
      this.remember(token, {
        principal,
        kid: String(protectedHeader.kid),
        issuedAt: payload.iat as number,
        expiresAt: payload.exp as number,
      });
      return principal;
    } catch (error) {
      throw new NotAuthenticatedError({ cause: error });
    }
  }

  /** What jwtVerify checks that can change after the first check: the clock, and the key set. */
  private async stillValid(known: Verified): Promise<boolean> {
    const now = Math.floor(Date.now() / 1000);
    if (known.expiresAt <= now || now - known.issuedAt > this.settings.maxAgeSeconds) return false;
    return (await this.source()).some((k) => k.kid === known.kid);
  }

  private remember(token: string, verified: Verified): void {
    // The oldest entry goes first (a Map keeps insertion order): a bound, not an LRU, is enough here.
    if (this.verified.size >= VERIFIED_TOKENS) {
      const oldest = this.verified.keys().next().value;
      if (oldest !== undefined) this.verified.delete(oldest);
    }
    this.verified.set(token, verified);
  }
}
