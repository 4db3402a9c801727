/** The auth capability's providers: the token service, accounts (sign-up, profile), and login. */
import { AccountService } from '../auth/accounts.ts';
import { PasswordHasher } from '../auth/passwords.ts';
import { type SigningKeySource, TokenService } from '../auth/tokens.ts';
import type { Config } from '../config.ts';
import { userTable } from './dynamodb.ts';
import { provider } from './provider.ts';
import { secretString } from './secrets.ts';
import { settings } from './settings.ts';

function signingKey(cfg: Config): SigningKeySource {
  if (cfg.JWT_SECRET) {
    const key = new TextEncoder().encode(cfg.JWT_SECRET);
    return async () => key;
  }
  const arn = cfg.JWT_SECRET_ARN;
  if (!arn) return async () => Promise.reject(new Error('Set JWT_SECRET (local) or JWT_SECRET_ARN (AWS)'));
  return async () => new TextEncoder().encode(await secretString(arn));
}

export const tokenService = provider('tokens', { jwt: true }, [], () => {
  const cfg = settings();
  return new TokenService(signingKey(cfg), {
    issuer: cfg.JWT_ISSUER,
    audience: cfg.JWT_AUDIENCE,
    ttlSeconds: cfg.JWT_TTL_SECONDS,
  });
});

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
