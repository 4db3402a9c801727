/**
 * Access tokens: jose HS256 with the algorithm pinned and exp, iat, iss, aud and sub required, so
 * `alg: none`, other algorithms, forged signatures, expired and foreign tokens all fail the same way.
 */
import { jwtVerify, SignJWT } from 'jose';
import type { Role } from '../model.ts';
import { NotAuthenticatedError } from './errors.ts';

export interface TokenSettings {
  readonly issuer: string;
  readonly audience: string;
  readonly ttlSeconds: number;
}

export interface Principal {
  readonly userId: number;
  readonly username: string;
  readonly role: Role;
}

export interface IssuedToken {
  readonly access_token: string;
  readonly token_type: 'bearer';
  readonly expires_in: number;
}

/** The signing key: a local setting, or Secrets Manager in AWS (read at cold start, cached). */
export type SigningKeySource = () => Promise<Uint8Array>;

const ALGORITHM = 'HS256';

export class TokenService {
  constructor(
    private readonly key: SigningKeySource,
    private readonly settings: TokenSettings,
  ) {}

  async issue(principal: Principal): Promise<IssuedToken> {
    const token = await new SignJWT({ username: principal.username, role: principal.role })
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
      .setSubject(String(principal.userId))
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.audience)
      .setIssuedAt()
      .setExpirationTime(`${this.settings.ttlSeconds}s`)
      .sign(await this.key());
    return { access_token: token, token_type: 'bearer', expires_in: this.settings.ttlSeconds };
  }

  /** The principal of a valid token; NotAuthenticatedError for anything else. */
  async verify(token: string): Promise<Principal> {
    try {
      const { payload } = await jwtVerify(token, await this.key(), {
        algorithms: [ALGORITHM],
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        requiredClaims: ['exp', 'iat', 'sub'],
      });
      const userId = Number(payload.sub);
      const role = payload.role;
      if (!Number.isSafeInteger(userId) || userId <= 0 || (role !== 'user' && role !== 'admin')) {
        throw new Error('token claims have the wrong shape');
      }
      return { userId, username: String(payload.username), role };
    } catch (error) {
      throw new NotAuthenticatedError({ cause: error });
    }
  }
}
