import { importJWK, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countStatuses, startTestApi, type TestApi, unique } from '../support/api.ts';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(() => api.close());

const register = (body: unknown) => api.request('POST', '/api/auth/register', { body });
const jwk = JSON.parse(String(process.env.JWT_SIGNING_KEY));
const key = await importJWK(jwk, 'ES256');

describe('registration', () => {
  it('creates a user and answers 201 with id, username and created_at', async () => {
    const username = unique('reg');
    const reply = await register({ username, password: 'password123', email: 'a@example.com' });
    expect(reply.status).toBe(201);
    expect(reply.body).toEqual({ id: expect.any(Number), username, created_at: expect.any(String) });
    expect(reply.body).not.toHaveProperty('password_hash');
  });

  it('refuses a taken username with 409 USER_EXISTS, in any letter case', async () => {
    const username = unique('dup');
    expect((await register({ username, password: 'password123' })).status).toBe(201);
    const again = await register({ username: username.toUpperCase(), password: 'password123' });
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ detail: expect.any(String), code: 'USER_EXISTS' });
  });

  it('gives exactly one 201 and nineteen 409s to 20 concurrent registrations of one name', async () => {
    const username = unique('race');
    const replies = await Promise.all(
      Array.from({ length: 20 }, () => register({ username, password: 'password123' })),
    );
    expect(countStatuses(replies)).toEqual({ 201: 1, 409: 19 });
  });

  it.each([
    [{ username: 'ab', password: 'password123' }, 'body.username'],
    [{ username: 'has space', password: 'password123' }, 'body.username'],
    [{ username: unique('short'), password: 'short' }, 'body.password'],
    [{ username: unique('long'), password: 'p'.repeat(73) }, 'body.password'],
    [{ username: unique('utf8'), password: '비밀번호'.repeat(7) }, 'body.password'], // 84 bytes in 28 chars
    [{ password: 'password123' }, 'body.username'],
    [{ username: unique('num'), password: 12345678 }, 'body.password'],
  ])('refuses %j with 422 naming %s', async (body, field) => {
    const reply = await register(body);
    expect(reply.status).toBe(422);
    expect(reply.body.code).toBe('VALIDATION_ERROR');
    expect(reply.body.detail).toContain(field);
  });

  it('accepts a password of exactly 72 bytes (bcrypt limit) and logs in with it', async () => {
    const username = unique('max');
    const password = 'p'.repeat(72);
    expect((await register({ username, password })).status).toBe(201);
    expect((await api.request('POST', '/api/auth/login', { body: { username, password } })).status).toBe(200);
  });
});

describe('login', () => {
  it('returns a bearer token valid for 30 minutes', async () => {
    const { username } = await api.user();
    const reply = await api.request('POST', '/api/auth/login', {
      body: { username, password: 'password123' },
    });
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ access_token: expect.any(String), token_type: 'bearer', expires_in: 1800 });
  });

  it('answers unknown user and wrong password with the same 401 body', async () => {
    const { username } = await api.user();
    const wrong = await api.request('POST', '/api/auth/login', {
      body: { username, password: 'wrong-password' },
    });
    const unknown = await api.request('POST', '/api/auth/login', {
      body: { username: unique('ghost'), password: 'wrong-password' },
    });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(unknown.body).toEqual(wrong.body);
    expect(wrong.body.code).toBe('INVALID_CREDENTIALS');
  });
});

describe('tokens', () => {
  const me = (token?: string, header?: string) =>
    api.request('GET', '/api/auth/me', header ? { headers: { authorization: header } } : { token });

  it('answers /me with the caller', async () => {
    const user = await api.user();
    const reply = await me(user.token);
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({
      id: user.id,
      username: user.username,
      role: 'user',
      created_at: expect.any(String),
    });
  });

  const sign = (claims: Record<string, unknown>, build: (j: SignJWT) => SignJWT = (j) => j) =>
    build(
      new SignJWT({ role: 'user', username: 'x', ver: 0, ...claims }).setProtectedHeader({
        alg: 'ES256',
        typ: 'at+jwt',
        kid: jwk.kid,
      }),
    ).sign(key);

  it('gives missing, malformed, alg:none, forged, expired and foreign tokens the same 401', async () => {
    const user = await api.user();
    const valid = (j: SignJWT) =>
      j
        .setSubject(String(user.id))
        .setIssuer('flash-sale-inventory')
        .setAudience('flash-sale-api')
        .setIssuedAt();
    const none = new UnsecuredJWT({ role: 'admin' })
      .setSubject(String(user.id))
      .setIssuer('flash-sale-inventory')
      .setAudience('flash-sale-api')
      .setIssuedAt()
      .setExpirationTime('10m')
      .encode();
    const forged = await new SignJWT({ role: 'admin', username: 'x' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(String(user.id))
      .setIssuer('flash-sale-inventory')
      .setAudience('flash-sale-api')
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode('another-key-another-key-another-key!!'));
    const expired = await sign({}, (j) => valid(j).setExpirationTime(Math.floor(Date.now() / 1000) - 60));
    const wrongAudience = await sign({}, (j) =>
      valid(j).setAudience('someone-else').setExpirationTime('10m'),
    );
    const noExpiry = await sign({}, valid);
    const replies = await Promise.all([
      me(undefined),
      me(undefined, 'Bearer'),
      me(undefined, `Basic ${user.token}`),
      me('not.a.jwt'),
      me(none),
      me(forged),
      me(expired),
      me(wrongAudience),
      me(noExpiry),
    ]);
    for (const reply of replies) {
      expect(reply.status).toBe(401);
      expect(reply.body).toEqual({ detail: 'Not authenticated', code: 'NOT_AUTHENTICATED' });
    }
  });

  it('answers 403 FORBIDDEN when a user calls an admin route', async () => {
    const user = await api.user();
    const reply = await api.request('GET', '/api/admin/inventory/verify', { token: user.token });
    expect(reply.status).toBe(403);
    expect(reply.body.code).toBe('FORBIDDEN');
  });
});

describe('bad input', () => {
  it('answers malformed JSON with 422 INVALID_JSON', async () => {
    const reply = await register('{"username": ');
    expect(reply.status).toBe(422);
    expect(reply.body.code).toBe('INVALID_JSON');
  });

  it('answers a non-JSON content type with 415', async () => {
    const reply = await api.request('POST', '/api/auth/register', {
      body: 'username=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(reply.status).toBe(415);
    expect(reply.body.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers a body over the size limit with 413 and writes nothing', async () => {
    const username = unique('big');
    const reply = await register({ username, password: 'password123', padding: 'x'.repeat(20_000) });
    expect(reply.status).toBe(413);
    expect(reply.body.code).toBe('PAYLOAD_TOO_LARGE');
    expect(
      (await api.request('POST', '/api/auth/login', { body: { username, password: 'password123' } })).status,
    ).toBe(401);
  });

  it('answers an unknown route with 404 and a wrong method with 405, in the contract body', async () => {
    const missing = await api.request('GET', '/api/nothing-here');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ detail: expect.any(String), code: 'NOT_FOUND' });
    const wrong = await api.request('DELETE', '/api/auth/register');
    expect(wrong.status).toBe(405);
    expect(wrong.body.code).toBe('METHOD_NOT_ALLOWED');
    expect(wrong.headers.get('allow')).toBe('POST');
  });

  it('answers health with every part ok', async () => {
    const reply = await api.request('GET', '/api/health');
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({
      status: 'ok',
      redis: 'ok',
      dynamodb: 'ok',
      breakers: { redis: 'closed', dynamodb: 'closed' },
    });
  });
});
