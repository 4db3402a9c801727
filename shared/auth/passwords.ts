/** bcrypt password hashing (bcryptjs: pure JS, so it bundles into a Lambda without native builds). */
import bcrypt from 'bcryptjs';

export { MAX_PASSWORD_BYTES } from './password-limits.ts';

export class PasswordHasher {
  private dummyHash: Promise<string> | undefined;

  constructor(private readonly cost: number) {}

  hash(password: string): Promise<string> {
    return bcrypt.hash(password, this.cost);
  }

  verify(password: string, hash: string): Promise<boolean> {
    return bcrypt.compare(password, hash);
  }

  /**
   * Spend the same bcrypt work when the user does not exist, so "unknown user" and "wrong password"
   * take about the same time and cannot be told apart by timing.
   */
  async verifyAgainstDummy(password: string): Promise<false> {
    this.dummyHash ??= bcrypt.hash('dummy password for timing', this.cost);
    await bcrypt.compare(password, await this.dummyHash);
    return false;
  }
}
