import { describe, expect, it } from 'vitest';
import {
  createProductBody,
  idempotencyHeaders,
  idParams,
  loginBody,
  pageQuery,
  password,
  purchaseBody,
  registerBody,
  username,
} from '../../shared/http/schemas.ts';

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

describe('username', () => {
  it.each(['abc', 'a'.repeat(50), 'Kim_Min.su-99', '___', '...'])('accepts %j', (name) => {
    expect(username.safeParse(name).success).toBe(true);
  });

  it.each([
    ['2 characters', 'ab'],
    ['51 characters', 'a'.repeat(51)],
    ['a space', 'has space'],
    ['an @', 'me@example'],
    ['a slash', 'a/b'],
    ['Hangul', '김민수'],
    ['a trailing newline', 'alice\n'],
    ['the empty string', ''],
  ])('refuses a name with %s', (_why, name) => {
    expect(username.safeParse(name).success).toBe(false);
  });

  it('refuses a non-string', () => {
    expect(username.safeParse(12345).success).toBe(false);
  });
});

describe('password', () => {
  it('accepts exactly 8 and exactly 72 ASCII bytes', () => {
    expect(password.safeParse('p'.repeat(8)).success).toBe(true);
    expect(password.safeParse('p'.repeat(72)).success).toBe(true);
  });

  it('refuses 7 and 73 ASCII bytes', () => {
    expect(password.safeParse('p'.repeat(7)).success).toBe(false);
    expect(password.safeParse('p'.repeat(73)).success).toBe(false);
  });

  it('counts a multi-byte character as its UTF-8 bytes: 24 Hangul syllables (72 bytes) pass, 25 (75 bytes) fail', () => {
    const fits = '비'.repeat(24);
    const over = '비'.repeat(25);
    expect(bytes(fits)).toBe(72);
    expect(bytes(over)).toBe(75);
    expect(password.safeParse(fits).success).toBe(true);
    expect(password.safeParse(over).success).toBe(false);
  });

  it('refuses 28 characters that are 84 bytes instead of letting bcrypt truncate them', () => {
    const korean = '비밀번호'.repeat(7);
    expect(korean.length).toBe(28);
    const result = password.safeParse(korean);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toContain('72 bytes');
  });

  it('refuses 71 ASCII bytes plus one emoji (75 bytes)', () => {
    expect(password.safeParse(`${'p'.repeat(71)}😀`).success).toBe(false);
  });

  // CONTRACT.md: "password: 8–72 bytes": both bounds count UTF-8 bytes, not characters.
  it('accepts a password of 3 Hangul syllables, which is 9 bytes (contract: 8–72 bytes)', () => {
    const short = '비밀번';
    expect(bytes(short)).toBe(9);
    expect(password.safeParse(short).success).toBe(true);
  });
});

describe('registerBody', () => {
  it('accepts a body without email and one with a valid email', () => {
    expect(registerBody.safeParse({ username: 'alice', password: 'password123' }).success).toBe(true);
    expect(
      registerBody.safeParse({ username: 'alice', password: 'password123', email: 'a@example.com' }).success,
    ).toBe(true);
  });

  it('refuses an invalid email', () => {
    const result = registerBody.safeParse({ username: 'alice', password: 'password123', email: 'nope' });
    expect(result.error?.issues.map((i) => i.path.join('.'))).toEqual(['email']);
  });

  it('names every missing field', () => {
    const result = registerBody.safeParse({});
    expect(result.error?.issues.map((i) => i.path.join('.')).sort()).toEqual(['password', 'username']);
  });
});

describe('loginBody', () => {
  it('checks presence, not format, so a malformed name gets the same 401 as a wrong one', () => {
    expect(loginBody.safeParse({ username: 'has space', password: 'short' }).success).toBe(true);
  });

  it('refuses empty credentials', () => {
    expect(loginBody.safeParse({ username: '', password: 'x' }).success).toBe(false);
    expect(loginBody.safeParse({ username: 'x', password: '' }).success).toBe(false);
  });
});

describe('createProductBody', () => {
  const valid = { name: 'Lamp', price: 15000, stock: 100 };

  it('accepts a product with zero price and zero stock', () => {
    expect(createProductBody.parse({ ...valid, price: 0, stock: 0 })).toEqual({
      name: 'Lamp',
      price: 0,
      stock: 0,
    });
  });

  it('accepts a null or absent description and an explicit strategy', () => {
    expect(createProductBody.safeParse({ ...valid, description: null }).success).toBe(true);
    expect(createProductBody.parse({ ...valid, strategy: 'atomic' }).strategy).toBe('atomic');
  });

  it('accepts a positive per-buyer cap, or null for none', () => {
    expect(createProductBody.parse({ ...valid, max_per_user: 3 }).max_per_user).toBe(3);
    expect(createProductBody.parse({ ...valid, max_per_user: null }).max_per_user).toBeNull();
  });

  it('trims the name and refuses a blank one', () => {
    expect(createProductBody.parse({ ...valid, name: '  Lamp  ' }).name).toBe('Lamp');
    expect(createProductBody.safeParse({ ...valid, name: '   ' }).success).toBe(false);
  });

  it.each([
    ['a negative price', { price: -1 }, 'price'],
    ['a fractional price', { price: 9.99 }, 'price'],
    ['a price given as a string', { price: '1000' }, 'price'],
    ['a negative stock', { stock: -5 }, 'stock'],
    ['a fractional stock', { stock: 1.5 }, 'stock'],
    ['a stock given as a string', { stock: '10' }, 'stock'],
    ['an infinite stock', { stock: Number.POSITIVE_INFINITY }, 'stock'],
    ['an unknown strategy', { strategy: 'optimistic' }, 'strategy'],
    ['a missing name', { name: undefined }, 'name'],
    ['a zero per-buyer cap', { max_per_user: 0 }, 'max_per_user'],
    ['a negative per-buyer cap', { max_per_user: -2 }, 'max_per_user'],
    ['a fractional per-buyer cap', { max_per_user: 1.5 }, 'max_per_user'],
  ])('refuses %s, naming the field', (_why, patch, field) => {
    const result = createProductBody.safeParse({ ...valid, ...patch });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path.join('.'))).toContain(field);
  });
});

describe('purchaseBody', () => {
  it('accepts a positive product id and quantity', () => {
    expect(purchaseBody.parse({ product_id: 3, quantity: 2 })).toEqual({
      single: true,
      items: [{ product_id: 3, quantity: 2 }],
    });
  });

  it('accepts a cart of distinct products', () => {
    const items = [
      { product_id: 3, quantity: 2 },
      { product_id: 1, quantity: 1 },
    ];
    expect(purchaseBody.parse({ items })).toEqual({ single: false, items });
  });

  it.each([
    [{ product_id: 0, quantity: 1 }, 'product_id'],
    [{ product_id: -1, quantity: 1 }, 'product_id'],
    [{ product_id: '1', quantity: 1 }, 'product_id'],
    [{ product_id: 1.5, quantity: 1 }, 'product_id'],
    [{ product_id: 1, quantity: 0 }, 'quantity'],
    [{ product_id: 1, quantity: 1.5 }, 'quantity'],
    [{ product_id: 1, quantity: 10_001 }, 'quantity'],
    [{ product_id: 1 }, 'quantity'],
    [{ items: [] }, 'items'],
    [
      {
        items: [
          { product_id: 1, quantity: 1 },
          { product_id: 1, quantity: 2 },
        ],
      },
      'items',
    ],
    [{ items: Array.from({ length: 11 }, (_, i) => ({ product_id: i + 1, quantity: 1 })) }, 'items'],
    [{ items: [{ product_id: 1, quantity: 0 }] }, 'items.0.quantity'],
    [{ items: [{ product_id: 1, quantity: 1 }], product_id: 1, quantity: 1 }, 'items'],
  ])('refuses %j, naming %s', (body, field) => {
    const result = purchaseBody.safeParse(body);
    expect(result.error?.issues.map((i) => i.path.join('.'))).toEqual([field]);
  });
});

describe('idParams', () => {
  it.each([
    ['1', 1],
    ['42', 42],
    ['999999999999999', 999_999_999_999_999],
  ])('turns %j into the number %i', (id, expected) => {
    expect(idParams.parse({ id })).toEqual({ id: expected });
  });

  it.each(['0', '-1', '01', 'abc', '1.5', '1e3', ' 1', '1 ', '0x10', '', '12345678901234567'])(
    'refuses %j',
    (id) => {
      expect(idParams.safeParse({ id }).success).toBe(false);
    },
  );

  it('refuses a number (path parameters arrive as strings)', () => {
    expect(idParams.safeParse({ id: 1 }).success).toBe(false);
  });

  // Ids above Number.MAX_SAFE_INTEGER would lose precision in transform(Number) and look up another
  // product (9999999999999999 → 10000000000000000): ids stop at 15 digits, so that cannot happen.
  it.each(['9999999999999999', '9007199254740993'])(
    'refuses %j rather than turn it into a different number',
    (id) => {
      expect(idParams.safeParse({ id }).success).toBe(false);
    },
  );
});

describe('pageQuery', () => {
  it('defaults to skip 0, limit 100', () => {
    expect(pageQuery.parse({})).toEqual({ skip: 0, limit: 100 });
  });

  it('coerces the query strings to numbers', () => {
    expect(pageQuery.parse({ skip: '20', limit: '5' })).toEqual({ skip: 20, limit: 5 });
  });

  it('accepts the bounds: limit 1 and 1000, skip 0', () => {
    expect(pageQuery.parse({ skip: '0', limit: '1' })).toEqual({ skip: 0, limit: 1 });
    expect(pageQuery.parse({ limit: '1000' }).limit).toBe(1000);
  });

  it.each([
    [{ limit: '0' }, 'limit'],
    [{ limit: '1001' }, 'limit'],
    [{ limit: 'ten' }, 'limit'],
    [{ limit: '2.5' }, 'limit'],
    [{ skip: '-1' }, 'skip'],
    [{ skip: 'x' }, 'skip'],
  ])('refuses %j, naming %s', (query, field) => {
    const result = pageQuery.safeParse(query);
    expect(result.error?.issues.map((i) => i.path.join('.'))).toEqual([field]);
  });
});

describe('idempotencyHeaders', () => {
  it('allows the header to be absent', () => {
    expect(idempotencyHeaders.parse({})).toEqual({});
  });

  it('accepts a UUID and a key of exactly 255 printable ASCII characters', () => {
    expect(idempotencyHeaders.safeParse({ 'idempotency-key': crypto.randomUUID() }).success).toBe(true);
    expect(idempotencyHeaders.safeParse({ 'idempotency-key': '~'.repeat(255) }).success).toBe(true);
  });

  it('ignores unrelated headers', () => {
    expect(
      idempotencyHeaders.parse({ 'content-type': 'application/json', 'idempotency-key': 'k-1' }),
    ).toEqual({
      'idempotency-key': 'k-1',
    });
  });

  it.each([
    ['empty', ''],
    ['256 characters', 'k'.repeat(256)],
    ['a space', 'order 1'],
    ['a tab', 'order\t1'],
    ['a non-ASCII character', '주문-1'],
    ['a newline', 'order\n1'],
  ])('refuses a key that is %s', (_why, key) => {
    expect(idempotencyHeaders.safeParse({ 'idempotency-key': key }).success).toBe(false);
  });
});
