/** Registration, login and the caller's profile: the auth use-cases. */
import type { Role, UserRecord } from '../model.ts';
import {
  InvalidCredentialsError,
  NotAuthenticatedError,
  UserExistsError,
  UsernameTakenError,
} from './errors.ts';
import type { PasswordHasher } from './passwords.ts';
import type { IssuedToken, TokenService } from './tokens.ts';

/** What the account use-cases need of the users table. */
export interface UserStore {
  nextId(): Promise<number>;
  create(user: UserRecord): Promise<void>;
  getById(id: number): Promise<UserRecord | null>;
  getByUsername(username: string): Promise<UserRecord | null>;
  updateCredentials(id: number, passwordHash: string, role: Role, now: string): Promise<void>;
}

export interface NewUser {
  readonly username: string;
  readonly password: string;
  readonly email?: string | undefined;
  readonly role?: Role;
}

export class AccountService {
  constructor(
    private readonly users: UserStore,
    private readonly passwords: PasswordHasher,
    /** Only login issues tokens; a caller that never logs anyone in (the admin script) passes none. */
    private readonly tokens: Pick<TokenService, 'issue'> | null,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async register({ username, password, email, role = 'user' }: NewUser): Promise<UserRecord> {
    // Cheap check first so a taken name does not cost a bcrypt hash; the conditional write decides.
    if (await this.users.getByUsername(username)) throw new UserExistsError(username);
    const [id, passwordHash] = await Promise.all([this.users.nextId(), this.passwords.hash(password)]);
    const at = this.now().toISOString();
    const user: UserRecord = {
      id,
      username,
      email: email ?? null,
      password_hash: passwordHash,
      role,
      created_at: at,
      updated_at: at,
    };
    try {
      await this.users.create(user);
    } catch (error) {
      if (error instanceof UsernameTakenError) throw new UserExistsError(username);
      throw error;
    }
    return user;
  }

  async login(username: string, password: string): Promise<IssuedToken> {
    const user = await this.users.getByUsername(username);
    const valid = user
      ? await this.passwords.verify(password, user.password_hash)
      : await this.passwords.verifyAgainstDummy(password);
    if (!user || !valid) throw new InvalidCredentialsError();
    if (!this.tokens) throw new Error('AccountService was built without a token service; login needs one');
    return this.tokens.issue({ userId: user.id, username: user.username, role: user.role });
  }

  /** The caller as stored now; a token for a user that no longer exists is not authenticated. */
  async profile(userId: number): Promise<UserRecord> {
    const user = await this.users.getById(userId);
    if (!user) throw new NotAuthenticatedError();
    return user;
  }

  /** Create an admin, or make an existing user admin with this password (the admin script, start-up). */
  async upsertAdmin(username: string, password: string): Promise<{ user: UserRecord; created: boolean }> {
    const existing = await this.users.getByUsername(username);
    if (!existing) return { user: await this.register({ username, password, role: 'admin' }), created: true };
    const at = this.now().toISOString();
    const passwordHash = await this.passwords.hash(password);
    await this.users.updateCredentials(existing.id, passwordHash, 'admin', at);
    return {
      user: { ...existing, password_hash: passwordHash, role: 'admin', updated_at: at },
      created: false,
    };
  }
}
