import { decodeProtectedHeader, importJWK, SignJWT, UnsecuredJWT } from 'jose';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { AccountService, type UserStore } from '../../shared/auth/accounts.ts';
import {
  InvalidCredentialsError,
  NotAuthenticatedError,
  UserExistsError,
  UsernameTakenError,
} from '../../shared/auth/errors.ts';
import { newSigningKey, publicKeyOf } from '../../shared/auth/keys.ts';
import { PasswordHasher } from '../../shared/auth/passwords.ts';
import { TokenSigner, TokenVerifier } from '../../shared/auth/tokens.ts';
import type { Role, UserRecord } from '../../shared/model.ts';

/** The users table in memory, with the repository's case-insensitive unique names. */
class MemoryUsers implements UserStore {
  readonly rows = new Map<number, UserRecord>();
  private sequence = 0;

  async nextId() {
    this.sequence += 1;
    return this.sequence;
  }

  async create(user: UserRecord) {
    if (await this.getByUsername(user.username)) throw new UsernameTakenError(user.username);
    this.rows.set(user.id, user);
  }

  async getById(id: number) {
    return this.rows.get(id) ?? null;
  }

  async getByUsername(username: string) {
    for (const user of this.rows.values())
      if (user.username.toLowerCase() === username.toLowerCase()) return user;
    return null;
  }

  async updateCredentials(id: number, passwordHash: string, role: Role, now: string) {
    const user = this.rows.get(id);
    if (!user) throw new Error(`no user ${id}`);
    const token_version = (user.token_version ?? 0) + 1;
    this.rows.set(id, { ...user, password_hash: passwordHash, role, token_version, updated_at: now });
    return token_version;
  }

  async changeRoleUnaudited(id: number, role: Role, now: string) {
    const user = this.rows.get(id);
    if (!user) return null;
    const token_version = (user.token_version ?? 0) + 1;
    this.rows.set(id, { ...user, role, token_version, updated_at: now });
    return token_version;
  }
}

const signingJwk = newSigningKey();
const key = await importJWK({ ...signingJwk }, 'ES256');
const settings = {
  issuer: 'flash-sale-inventory',
  audience: 'flash-sale-api',
  ttlSeconds: 1800,
  maxAgeSeconds: 3600,
};
const NOW = new Date('2025-01-02T03:04:05.000Z');

let users: MemoryUsers;
let hasher: PasswordHasher;
let tokens: TokenVerifier;
let accounts: AccountService;

beforeEach(() => {
  users = new MemoryUsers();
  hasher = new PasswordHasher(4);
  tokens = new TokenVerifier(async () => [publicKeyOf(signingJwk)], settings);
  const signer = new TokenSigner(async () => signingJwk, settings);
  accounts = new AccountService({ users, passwords: hasher, tokens: signer, now: () => NOW });
});

/** A token signed with the service's key and claims, with one part changed. */
function forge(
  change: {
    key?: Parameters<SignJWT['sign']>[0];
    alg?: string;
    typ?: string;
    kid?: string | null;
    issuer?: string;
    audience?: string;
    sub?: string | null;
    role?: string;
    exp?: number;
    iat?: number | null;
  } = {},
) {
  const jwt = new SignJWT({ username: 'alice', role: change.role ?? 'user', ver: 0 })
    .setProtectedHeader({
      alg: change.alg ?? 'ES256',
      typ: change.typ ?? 'at+jwt',
      ...(change.kid !== null && { kid: change.kid ?? signingJwk.kid }),
    })
    .setIssuer(change.issuer ?? settings.issuer)
    .setAudience(change.audience ?? settings.audience)
    .setExpirationTime(change.exp ?? '30m');
  if (change.sub !== null) jwt.setSubject(change.sub ?? '1');
  if (change.iat !== null) jwt.setIssuedAt(change.iat);
  return jwt.sign(change.key ?? key);
}

describe('register', () => {
  it('stores the user with a bcrypt hash, never the password', async () => {
    const user = await accounts.register({ username: 'alice', password: 'password123' });
    expect(user).toMatchObject({
      id: 1,
      username: 'alice',
      email: null,
      role: 'user',
      created_at: NOW.toISOString(),
      updated_at: NOW.toISOString(),
    });
    expect(user.password_hash).toMatch(/^\$2[aby]\$04\$/);
    expect(JSON.stringify([...users.rows.values()])).not.toContain('password123');
  });

  it('refuses an existing name with UserExistsError, in any letter case', async () => {
    await accounts.register({ username: 'alice', password: 'password123' });
    await expect(accounts.register({ username: 'ALICE', password: 'other-password' })).rejects.toThrow(
      UserExistsError,
    );
    expect(users.rows.size).toBe(1);
  });

  it('does not spend a bcrypt hash on a taken name', async () => {
    await accounts.register({ username: 'alice', password: 'password123' });
    const hash = vi.spyOn(hasher, 'hash');
    await expect(accounts.register({ username: 'alice', password: 'password123' })).rejects.toThrow(
      UserExistsError,
    );
    expect(hash).not.toHaveBeenCalled();
  });

  it('turns a lost race on the unique name (the conditional write) into UserExistsError', async () => {
    vi.spyOn(users, 'getByUsername').mockResolvedValueOnce(null);
    vi.spyOn(users, 'create').mockRejectedValueOnce(new UsernameTakenError('alice'));
    await expect(accounts.register({ username: 'alice', password: 'password123' })).rejects.toThrow(
      UserExistsError,
    );
  });

  it('passes on a store failure that is not a taken name', async () => {
    const outage = new Error('DynamoDB unavailable');
    vi.spyOn(users, 'create').mockRejectedValueOnce(outage);
    await expect(accounts.register({ username: 'alice', password: 'password123' })).rejects.toBe(outage);
  });
});

describe('login', () => {
  beforeEach(async () => {
    await accounts.register({ username: 'alice', password: 'password123' });
  });

  it('issues a bearer token that verifies to the user', async () => {
    const issued = await accounts.login('alice', 'password123');
    expect(issued).toEqual({ access_token: expect.any(String), token_type: 'bearer', expires_in: 1800 });
    expect(await tokens.verify(issued.access_token)).toEqual({
      userId: 1,
      username: 'alice',
      role: 'user',
      tokenVersion: 0,
    });
  });

  it('refuses a wrong password with InvalidCredentialsError', async () => {
    await expect(accounts.login('alice', 'wrong-password')).rejects.toThrow(InvalidCredentialsError);
  });

  it('spends a bcrypt comparison on an unknown user and fails exactly like a wrong password', async () => {
    const dummy = vi.spyOn(hasher, 'verifyAgainstDummy');
    const verify = vi.spyOn(hasher, 'verify');

    const unknown = await accounts.login('mallory', 'password123').catch((e: unknown) => e);
    expect(dummy).toHaveBeenCalledWith('password123');
    expect(verify).not.toHaveBeenCalled();

    const wrong = await accounts.login('alice', 'wrong-password').catch((e: unknown) => e);
    expect(dummy).toHaveBeenCalledTimes(1);
    expect(unknown).toBeInstanceOf(InvalidCredentialsError);
    expect(wrong).toBeInstanceOf(InvalidCredentialsError);
    expect((unknown as Error).message).toBe((wrong as Error).message);
    expect(Object.entries(unknown as Error)).toEqual(Object.entries(wrong as Error));
  });

  it('does not let a correct password of another user through', async () => {
    await accounts.register({ username: 'bob', password: 'bobs-password' });
    await expect(accounts.login('alice', 'bobs-password')).rejects.toThrow(InvalidCredentialsError);
  });
});

describe('profile', () => {
  it('returns the stored user', async () => {
    const { id } = await accounts.register({ username: 'alice', password: 'password123' });
    expect((await accounts.profile(id)).username).toBe('alice');
  });

  it('treats a token for a user that no longer exists as not authenticated', async () => {
    await expect(accounts.profile(404)).rejects.toThrow(NotAuthenticatedError);
  });
});

describe('upsertAdmin', () => {
  it('creates an admin who can log in', async () => {
    const { user, created } = await accounts.upsertAdmin('root', 'admin-password');
    expect(created).toBe(true);
    expect(user.role).toBe('admin');
    const issued = await accounts.login('root', 'admin-password');
    expect((await tokens.verify(issued.access_token)).role).toBe('admin');
  });

  it('promotes an existing user and replaces the password', async () => {
    await accounts.register({ username: 'alice', password: 'password123' });
    const { created } = await accounts.upsertAdmin('alice', 'new-admin-password');
    expect(created).toBe(false);
    await expect(accounts.login('alice', 'password123')).rejects.toThrow(InvalidCredentialsError);
    const issued = await accounts.login('alice', 'new-admin-password');
    expect(await tokens.verify(issued.access_token)).toMatchObject({ userId: 1, role: 'admin' });
  });
});

const anotherKey = await importJWK({ ...newSigningKey(), kid: signingJwk.kid }, 'ES256');

describe('token verification', () => {
  it('accepts a token signed with the key and the expected claims', async () => {
    expect(await tokens.verify(await forge({ role: 'admin' }))).toEqual({
      userId: 1,
      username: 'alice',
      role: 'admin',
      tokenVersion: 0,
    });
  });

  it('refuses an unsigned token (alg: none)', async () => {
    const unsigned = new UnsecuredJWT({ username: 'alice', role: 'admin' })
      .setSubject('1')
      .setIssuer(settings.issuer)
      .setAudience(settings.audience)
      .setIssuedAt()
      .setExpirationTime('30m')
      .encode();
    await expect(tokens.verify(unsigned)).rejects.toThrow(NotAuthenticatedError);
  });

  it.each([
    ['signed with another key under the same kid', { key: anotherKey }],
    [
      'signed HS256 with the public key as the secret',
      { alg: 'HS256', key: new TextEncoder().encode(JSON.stringify(publicKeyOf(signingJwk))) },
    ],
    ['naming an unknown kid', { kid: 'retired-key' }],
    ['naming no kid', { kid: null }],
    ['of another type (typ JWT)', { typ: 'JWT' }],
    [
      'issued longer ago than the maximum age',
      { iat: Math.floor(Date.now() / 1000) - 3700, exp: Math.floor(Date.now() / 1000) + 600 },
    ],
    ['expired', { exp: Math.floor(Date.now() / 1000) - 60, iat: Math.floor(Date.now() / 1000) - 3600 }],
    ['from another issuer', { issuer: 'someone-else' }],
    ['for another audience', { audience: 'another-api' }],
    ['without a subject', { sub: null }],
    ['without iat', { iat: null }],
    ['with a non-numeric subject', { sub: 'alice' }],
    ['with subject 0', { sub: '0' }],
    ['with an unknown role', { role: 'superuser' }],
  ])('refuses a token %s with NotAuthenticatedError', async (_why, change) => {
    await expect(tokens.verify(await forge(change))).rejects.toThrow(NotAuthenticatedError);
  });

  it('refuses a token whose payload was edited after signing', async () => {
    const [header, , signature] = (await forge()).split('.');
    const payload = Buffer.from(
      JSON.stringify({
        username: 'alice',
        role: 'admin',
        sub: '1',
        iss: settings.issuer,
        aud: settings.audience,
        iat: Math.floor(Date.now() / 1000),
        exp: Math.floor(Date.now() / 1000) + 600,
      }),
    ).toString('base64url');
    await expect(tokens.verify(`${header}.${payload}.${signature}`)).rejects.toThrow(NotAuthenticatedError);
  });

  it.each(['', 'not-a-jwt', 'a.b.c', 'Bearer x.y.z'])('refuses garbage %j', async (garbage) => {
    await expect(tokens.verify(garbage)).rejects.toThrow(NotAuthenticatedError);
  });

  it('refuses a token issued by a service with another key', async () => {
    const other = new TokenSigner(async () => newSigningKey(), settings);
    const issued = await other.issue({ userId: 1, username: 'alice', role: 'user', tokenVersion: 0 });
    await expect(tokens.verify(issued.access_token)).rejects.toThrow(NotAuthenticatedError);
  });

  it('accepts tokens of the current and the previous key during a rotation, and no other', async () => {
    const previous = newSigningKey();
    const current = newSigningKey();
    const rotating = new TokenVerifier(async () => [publicKeyOf(current), publicKeyOf(previous)], settings);
    const principal = { userId: 1, username: 'alice', role: 'user' as const, tokenVersion: 0 };
    for (const key of [current, previous]) {
      const issued = await new TokenSigner(async () => key, settings).issue(principal);
      expect(await rotating.verify(issued.access_token)).toEqual(principal);
    }
    const retired = await new TokenSigner(async () => newSigningKey(), settings).issue(principal);
    await expect(rotating.verify(retired.access_token)).rejects.toThrow(NotAuthenticatedError);
  });

  it('signs with ES256, the key id and typ at+jwt in the header', async () => {
    const issued = await new TokenSigner(async () => signingJwk, settings).issue({
      userId: 1,
      username: 'alice',
      role: 'user',
      tokenVersion: 3,
    });
    expect(decodeProtectedHeader(issued.access_token)).toEqual({
      alg: 'ES256',
      typ: 'at+jwt',
      kid: signingJwk.kid,
    });
  });
});

describe('admin token versions', () => {
  it('keeps the tokens of an admin whose start-up repeats the same credentials', async () => {
    const { user } = await accounts.upsertAdmin('root', 'admin-password');
    const again = await accounts.upsertAdmin('root', 'admin-password');
    expect(again.user.token_version ?? 0).toBe(user.token_version ?? 0);
    const issued = await accounts.login('root', 'admin-password');
    await expect(accounts.requireAdmin(await tokens.verify(issued.access_token))).resolves.toBeUndefined();
  });

  it('refuses a token on admin routes once the password or the role changed', async () => {
    const { user } = await accounts.upsertAdmin('root', 'admin-password');
    const before = await tokens.verify((await accounts.login('root', 'admin-password')).access_token);
    await accounts.upsertAdmin('root', 'new-admin-password');
    await expect(accounts.requireAdmin(before)).rejects.toThrow(NotAuthenticatedError);
    const current = await tokens.verify((await accounts.login('root', 'new-admin-password')).access_token);
    await accounts.changeRole(user.id, 'user');
    await expect(accounts.requireAdmin(current)).rejects.toThrow(NotAuthenticatedError);
  });
});
