/** The auth capability's providers: accounts (sign-up, profile, the admin script) and login. */
import { AccountService } from '../auth/accounts.ts';
import { PasswordHasher } from '../auth/passwords.ts';
import { userTable } from './dynamodb.ts';
import { provider } from './provider.ts';
import { settings } from './settings.ts';
import { tokenService } from './tokens.ts';

/** Sign-up and the caller's profile: no token is issued, so no signing key is read. */
export const accountService = provider(
  'accounts',
  {},
  [userTable],
  async () => new AccountService(await userTable.get(), new PasswordHasher(settings().BCRYPT_COST), null),
);

/** Login: the accounts plus the token service that signs the answer. */
export const loginService = provider(
  'logins',
  {},
  [userTable, tokenService],
  async () =>
    new AccountService(
      await userTable.get(),
      new PasswordHasher(settings().BCRYPT_COST),
      await tokenService.get(),
    ),
);
