/** The users store's answer when the name (in any letter case) exists: the port's error. */
export class UsernameTakenError extends Error {
  override readonly name = 'UsernameTakenError';
  constructor(readonly username: string) {
    super(`Username ${username} is taken`);
  }
}

export class UserExistsError extends Error {
  override readonly name = 'UserExistsError';
  constructor(readonly username: string) {
    super(`Username ${username} is already registered`);
  }
}

/** Unknown user and wrong password are the same error, so the answer tells an attacker nothing. */
export class InvalidCredentialsError extends Error {
  override readonly name = 'InvalidCredentialsError';
  constructor() {
    super('Incorrect username or password');
  }
}

/** Missing, malformed, expired or forged token: one error, one answer. */
export class NotAuthenticatedError extends Error {
  override readonly name = 'NotAuthenticatedError';
  constructor(options?: ErrorOptions) {
    super('Not authenticated', options);
  }
}

export class ForbiddenError extends Error {
  override readonly name = 'ForbiddenError';
  constructor(readonly required: string) {
    super(`This action needs the ${required} role`);
  }
}
