import { SignJWT, UnsecuredJWT } from 'jose';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { AccountService, type UserStore } from '../../shared/auth/accounts.ts';
import {
  InvalidCredentialsError,
  NotAuthenticatedError,
  UserExistsError,
  UsernameTakenError,
} from '../../shared/auth/errors.ts';
import { PasswordHasher } from '../../shared/auth/passwords.ts';
import { TokenService } from '../../shared/auth/tokens.ts';
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
    this.rows.set(id, { ...user, password_hash: passwordHash, role, updated_at: now });
  }
}

const SECRET = 'unit-test-signing-key-0123456789abcdef';
const key = new TextEncoder().encode(SECRET);
const settings = { issuer: 'flash-sale-inventory', audience: 'flash-sale-api', ttlSeconds: 1800 };
const NOW = new Date('2025-01-02T03:04:05.000Z');

let users: MemoryUsers;
let hasher: PasswordHasher;
let tokens: TokenService;
let accounts: AccountService;

beforeEach(() => {
  users = new MemoryUsers();
  hasher = new PasswordHasher(4);
  tokens = new TokenService(async () => key, settings);
  accounts = new AccountService(users, hasher, tokens, () => NOW);
});

/** A token signed with the service's key and claims, with one part changed. */
function forge(
  change: {
    key?: Uint8Array;
    alg?: string;
    issuer?: string;
    audience?: string;
    sub?: string | null;
    role?: string;
    exp?: number;
    iat?: number | null;
  } = {},
) {
  const jwt = new SignJWT({ username: 'alice', role: change.role ?? 'user' })
    .setProtectedHeader({ alg: change.alg ?? 'HS256' })
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
    expect(await tokens.verify(issued.access_token)).toEqual({ userId: 1, username: 'alice', role: 'user' });
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

describe('token verification', () => {
  it('accepts a token signed with the key and the expected claims', async () => {
    expect(await tokens.verify(await forge({ role: 'admin' }))).toEqual({
      userId: 1,
      username: 'alice',
      role: 'admin',
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
    ['signed with another key', { key: new TextEncoder().encode('another-key-0123456789abcdefghijkl') }],
    ['signed with HS512 instead of HS256', { alg: 'HS512' }],
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
    const other = new TokenService(async () => new TextEncoder().encode('x'.repeat(40)), settings);
    const issued = await other.issue({ userId: 1, username: 'alice', role: 'user' });
    await expect(tokens.verify(issued.access_token)).rejects.toThrow(NotAuthenticatedError);
  });
});
