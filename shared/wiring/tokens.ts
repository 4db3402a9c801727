/**
 * The token service: every authenticated route verifies with it, so it lives apart from the
 * accounts (bcrypt, the users table) that only sign-up and login need.
 */
import { type SigningKeySource, TokenService } from '../auth/tokens.ts';
import type { Config } from '../config.ts';
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
