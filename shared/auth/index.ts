export {
  AccountService,
  type LoginGate,
  type NewUser,
  type Origin,
  type SignupGate,
  type UserStore,
} from './accounts.ts';
export {
  ForbiddenError,
  InvalidCredentialsError,
  NotAuthenticatedError,
  UserExistsError,
  UsernameTakenError,
} from './errors.ts';
export {
  type EcJwk,
  InvalidKeyError,
  newSigningKey,
  parseSigningKey,
  parseVerifyKeys,
  publicKeyOf,
  type SigningJwk,
  TOKEN_ALGORITHM,
} from './keys.ts';
export {
  adminPasswordProblem,
  DOCUMENTED_PASSWORDS,
  passwordProblem,
  WeakPasswordError,
} from './password-limits.ts';
export { MAX_PASSWORD_BYTES, PasswordHasher } from './passwords.ts';
export {
  type IssuedToken,
  type Principal,
  type SigningKeySource,
  TOKEN_TYPE,
  type TokenSettings,
  TokenSigner,
  TokenVerifier,
  type VerifyKeySource,
} from './tokens.ts';
