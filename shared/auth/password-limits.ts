/**
 * Password rules, in their own module so the request schemas can check them without bundling
 * bcrypt. bcrypt reads at most 72 bytes; longer passwords are refused upstream rather than silently
 * truncated.
 */
export const MIN_PASSWORD_BYTES = 8;
export const MAX_PASSWORD_BYTES = 72;

/**
 * Passwords printed in this project's own documentation and examples: whoever copies one gets an
 * admin anybody who read the README can log in as, so an admin password may not be one of them.
 */
export const DOCUMENTED_PASSWORDS: readonly string[] = [
  'change-me-please',
  '<a long password>',
  'password123',
];

/** Why a password is refused, or null. The same byte rules as the sign-up schema. */
export function passwordProblem(password: string): string | null {
  const bytes = Buffer.byteLength(password, 'utf8');
  if (bytes < MIN_PASSWORD_BYTES) return `must be at least ${MIN_PASSWORD_BYTES} bytes`;
  if (bytes > MAX_PASSWORD_BYTES) return `must be at most ${MAX_PASSWORD_BYTES} bytes`;
  return null;
}

/** An admin password: a valid password that no documentation example matches. */
export function adminPasswordProblem(password: string): string | null {
  if (DOCUMENTED_PASSWORDS.includes(password)) return 'is an example from the documentation; choose your own';
  return passwordProblem(password);
}

export class WeakPasswordError extends Error {
  override readonly name = 'WeakPasswordError';
  constructor(readonly problem: string) {
    super(`The admin password ${problem}`);
  }
}
