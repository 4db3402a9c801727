export { AccountService, type NewUser, type UserStore } from './accounts.ts';
export {
  ForbiddenError,
  InvalidCredentialsError,
  NotAuthenticatedError,
  UserExistsError,
  UsernameTakenError,
} from './errors.ts';
export { MAX_PASSWORD_BYTES, PasswordHasher } from './passwords.ts';
export {
  type IssuedToken,
  type Principal,
  type SigningKeySource,
  TokenService,
  type TokenSettings,
} from './tokens.ts';
