/**
 * The verifier checks a token's signature once per container and keeps the principal; what can
 * change after that first check (the clock, the set of verification keys) is checked on every use.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NotAuthenticatedError } from '../../shared/auth/errors.ts';
import { type EcJwk, newSigningKey, publicKeyOf } from '../../shared/auth/keys.ts';
import { TokenSigner, TokenVerifier } from '../../shared/auth/tokens.ts';

const settings = { issuer: 'test', audience: 'test-api', ttlSeconds: 60, maxAgeSeconds: 3_600 };
const principal = { userId: 7, username: 'buyer', role: 'user' as const, tokenVersion: 0 };

async function setUp() {
  const signing = newSigningKey();
  let keys: EcJwk[] = [publicKeyOf(signing)];
  let reads = 0;
  const verifier = new TokenVerifier(async () => {
    reads += 1;
    return keys;
  }, settings);
  const { access_token } = await new TokenSigner(async () => signing, settings).issue(principal);
  return {
    verifier,
    token: access_token,
    retireKeys: () => {
      keys = [publicKeyOf(newSigningKey())];
    },
    reads: () => reads,
  };
}

afterEach(() => vi.useRealTimers());

describe('a token used again', () => {
  it('gives the same principal without a second signature check', async () => {
    const { verifier, token } = await setUp();
    expect(await verifier.verify(token)).toEqual(principal);
    const subtle = vi.spyOn(globalThis.crypto.subtle, 'verify');
    expect(await verifier.verify(token)).toEqual(principal);
    expect(subtle).not.toHaveBeenCalled();
    subtle.mockRestore();
  });

  it('is refused once it has expired, though it was valid before', async () => {
    const { verifier, token } = await setUp();
    await verifier.verify(token);
    vi.useFakeTimers({ now: Date.now() + 61_000, toFake: ['Date'] });
    await expect(verifier.verify(token)).rejects.toBeInstanceOf(NotAuthenticatedError);
  });

  it('is refused once its key is no longer a verification key', async () => {
    const { verifier, token, retireKeys } = await setUp();
    await verifier.verify(token);
    retireKeys();
    await expect(verifier.verify(token)).rejects.toBeInstanceOf(NotAuthenticatedError);
  });

  it('is a different token with one character of its signature changed', async () => {
    const { verifier, token } = await setUp();
    await verifier.verify(token);
    const last = token.at(-2) === 'A' ? 'B' : 'A';
    const forged = `${token.slice(0, -2)}${last}${token.at(-1)}`;
    await expect(verifier.verify(forged)).rejects.toBeInstanceOf(NotAuthenticatedError);
  });
});
