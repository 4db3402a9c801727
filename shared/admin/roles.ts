/**
 * Roles: an admin promotes or demotes a user, and every admin route checks the caller's role as
 * stored now, not the role its token was issued with, so a demotion takes effect on the demoted
 * admin's next request instead of when the token expires.
 */
import { ulid } from 'ulid';
import { ForbiddenError } from '../auth/errors.ts';
import type { Role, UserRecord } from '../model.ts';
import { UserNotFoundError } from './errors.ts';
import type { RoleStore } from './ports.ts';

export class RoleService {
  constructor(
    private readonly users: RoleStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async change(userId: number, role: Role, actor: string): Promise<UserRecord> {
    const user = await this.users.getById(userId);
    if (!user) throw new UserNotFoundError(userId);
    const at = this.now().toISOString();
    const changed = await this.users.setRole(userId, role, {
      id: ulid(),
      at,
      actor,
      action: 'user.role',
      detail: { user_id: userId, username: user.username, from: user.role, to: role },
    });
    if (!changed) throw new UserNotFoundError(userId);
    return { ...user, role, updated_at: at };
  }

  /** Refuses a caller whose stored role is no longer admin (or who no longer exists). */
  async requireAdmin(userId: number): Promise<void> {
    if ((await this.users.roleOf(userId)) !== 'admin') throw new ForbiddenError('admin');
  }
}
