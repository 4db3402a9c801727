/** Registration, login and the caller's profile: the auth use-cases. */
import type { Role, UserRecord } from '../model.ts';
import {
  ForbiddenError,
  InvalidCredentialsError,
  NotAuthenticatedError,
  UserExistsError,
  UsernameTakenError,
} from './errors.ts';
import { adminPasswordProblem, MAX_PASSWORD_BYTES, WeakPasswordError } from './password-limits.ts';
import type { PasswordHasher } from './passwords.ts';
import type { IssuedToken, Principal, TokenSigner } from './tokens.ts';

/** What the account use-cases need of the users table. */
export interface UserStore {
  nextId(): Promise<number>;
  create(user: UserRecord): Promise<void>;
  getById(id: number): Promise<UserRecord | null>;
  getByUsername(username: string): Promise<UserRecord | null>;
  /** Sets the hash and role and raises the token version, so tokens issued before stop working as admin. */
  updateCredentials(id: number, passwordHash: string, role: Role, now: string): Promise<number>;
  /** Sets the role and raises the token version; null when there is no such user. */
  changeRoleUnaudited(id: number, role: Role, now: string): Promise<number | null>;
}

/** What a sign-up may set: named fields only, never a role. */
export interface NewUser {
  readonly username: string;
  readonly password: string;
  readonly email?: string | undefined;
}

/** Counts login attempts (shared/limits); refuses one over the limit before bcrypt runs. */
export interface LoginGate {
  begin(
    username: string,
    address: string | undefined,
  ): Promise<{ succeeded(): Promise<void>; failed(): Promise<void> }>;
}

/** Counts sign-ups per address (shared/limits). */
export interface SignupGate {
  begin(address: string | undefined): Promise<{ abandoned(): Promise<void> }>;
}

export interface AccountDeps {
  readonly users: UserStore;
  readonly passwords: PasswordHasher;
  /** Only login issues tokens; a caller that never logs anyone in (sign-up, the admin script) passes none. */
  readonly tokens?: Pick<TokenSigner, 'issue'>;
  readonly logins?: LoginGate;
  readonly signups?: SignupGate;
  readonly now?: () => Date;
}

/** The request's client address (API Gateway's sourceIp), for the per-address limits. */
export interface Origin {
  readonly address?: string | undefined;
}

export class AccountService {
  private readonly now: () => Date;

  constructor(private readonly deps: AccountDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** A sign-up: always the `user` role, whatever else the request carried. */
  async register({ username, password, email }: NewUser, origin: Origin = {}): Promise<UserRecord> {
    const attempt = await this.deps.signups?.begin(origin.address);
    try {
      return await this.create({ username, password, email }, 'user');
    } catch (error) {
      await attempt?.abandoned().catch(() => undefined);
      throw error;
    }
  }

  private async create({ username, password, email }: NewUser, role: Role): Promise<UserRecord> {
    const { users, passwords } = this.deps;
    // Cheap check first so a taken name does not cost a bcrypt hash; the conditional write decides.
    if (await users.getByUsername(username)) throw new UserExistsError(username);
    const [id, passwordHash] = await Promise.all([users.nextId(), passwords.hash(password)]);
    const at = this.now().toISOString();
    const user: UserRecord = {
      id,
      username,
      email: email ?? null,
      password_hash: passwordHash,
      role,
      token_version: 0,
      created_at: at,
      updated_at: at,
    };
    try {
      await users.create(user);
    } catch (error) {
      if (error instanceof UsernameTakenError) throw new UserExistsError(username);
      throw error;
    }
    return user;
  }

  async login(username: string, password: string, origin: Origin = {}): Promise<IssuedToken> {
    const { users, passwords, tokens, logins } = this.deps;
    const attempt = await logins?.begin(username, origin.address);
    const user = await users.getByUsername(username);
    // bcrypt reads 72 bytes: a longer password is wrong, never compared by its first 72 bytes.
    const tooLong = Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES;
    const candidate = tooLong ? '' : password;
    const valid = user
      ? (await passwords.verify(candidate, user.password_hash)) && !tooLong
      : await passwords.verifyAgainstDummy(candidate);
    if (!user || !valid) {
      await attempt?.failed();
      throw new InvalidCredentialsError();
    }
    await attempt?.succeeded();
    if (!tokens) throw new Error('AccountService was built without a token signer; login needs one');
    return tokens.issue({
      userId: user.id,
      username: user.username,
      role: user.role,
      tokenVersion: user.token_version ?? 0,
    });
  }

  /** The caller as stored now; a token for a user that no longer exists is not authenticated. */
  async profile(userId: number): Promise<UserRecord> {
    const user = await this.deps.users.getById(userId);
    if (!user) throw new NotAuthenticatedError();
    return user;
  }

  /**
   * An admin route's second look: the role and token version the token carries must still be the
   * user's in the table, so a demotion (or a password reset) takes effect at the next request.
   */
  async requireAdmin(caller: Principal): Promise<void> {
    const user = await this.deps.users.getById(caller.userId);
    if (!user) throw new NotAuthenticatedError();
    if ((user.token_version ?? 0) !== caller.tokenVersion) throw new NotAuthenticatedError();
    if (user.role !== 'admin') throw new ForbiddenError('admin');
  }

  /** Promote or demote a user; their tokens stop working on admin routes at once. Null: no such user. */
  async changeRole(userId: number, role: Role): Promise<UserRecord | null> {
    const version = await this.deps.users.changeRoleUnaudited(userId, role, this.now().toISOString());
    return version === null ? null : this.deps.users.getById(userId);
  }

  /** Create an admin, or make an existing user admin with this password (the admin script, start-up). */
  async upsertAdmin(username: string, password: string): Promise<{ user: UserRecord; created: boolean }> {
    const problem = adminPasswordProblem(password);
    if (problem) throw new WeakPasswordError(problem);
    const existing = await this.deps.users.getByUsername(username);
    if (!existing) return { user: await this.create({ username, password }, 'admin'), created: true };
    // Already this admin with this password (a restart, a second runtime): nothing changes, and the
    // tokens issued so far keep working. Anything else raises the token version.
    if (existing.role === 'admin' && (await this.deps.passwords.verify(password, existing.password_hash)))
      return { user: existing, created: false };
    const at = this.now().toISOString();
    const passwordHash = await this.deps.passwords.hash(password);
    const version = await this.deps.users.updateCredentials(existing.id, passwordHash, 'admin', at);
    return {
      user: {
        ...existing,
        password_hash: passwordHash,
        role: 'admin',
        token_version: version,
        updated_at: at,
      },
      created: false,
    };
  }
}
