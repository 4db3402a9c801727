/** The auth capability's providers: sign-up, login, the caller's profile and the admin check. */
import { AccountService } from '../auth/accounts.ts';
import { PasswordHasher } from '../auth/passwords.ts';
import { userTable } from './dynamodb.ts';
import { loginGuard, signupGuard } from './limits.ts';
import { provider } from './provider.ts';
import { settings } from './settings.ts';
import { tokenSigner } from './tokens.ts';

/** The caller's profile, the admin routes' second look and the admin script: no key, no limits. */
export const accountService = provider(
  'accounts',
  {},
  [userTable],
  async () =>
    new AccountService({
      users: await userTable.get(),
      passwords: new PasswordHasher(settings().BCRYPT_COST),
    }),
);

/** Sign-up: the accounts plus the per-address sign-up limit. */
export const signupService = provider(
  'signups',
  {},
  [userTable, signupGuard],
  async () =>
    new AccountService({
      users: await userTable.get(),
      passwords: new PasswordHasher(settings().BCRYPT_COST),
      signups: await signupGuard.get(),
    }),
);

/** Login: the accounts, the failed-login limits, and the signer (the only holder of the private key). */
export const loginService = provider(
  'logins',
  {},
  [userTable, tokenSigner, loginGuard],
  async () =>
    new AccountService({
      users: await userTable.get(),
      passwords: new PasswordHasher(settings().BCRYPT_COST),
      tokens: await tokenSigner.get(),
      logins: await loginGuard.get(),
    }),
);
