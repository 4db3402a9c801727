/** Domain errors of the admin capability. They carry their facts and know nothing of HTTP. */

export class UserNotFoundError extends Error {
  override readonly name = 'UserNotFoundError';
  constructor(readonly userId: number) {
    super(`User ${userId} does not exist`);
  }
}
