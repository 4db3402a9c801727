import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../shared/config.ts';

describe('parseConfig', () => {
  it("fills in the local runtime's defaults from an empty environment", () => {
    const config = parseConfig({});
    expect(config).toMatchObject({
      STAGE: 'local',
      LOG_LEVEL: 'INFO',
      AWS_REGION: 'us-east-1',
      USERS_TABLE: 'users',
      PRODUCTS_TABLE: 'products',
      PURCHASES_TABLE: 'purchases',
      REDIS_URL: 'redis://127.0.0.1:6379',
      JWT_ISSUER: 'flash-sale-inventory',
      JWT_AUDIENCE: 'flash-sale-api',
      JWT_TTL_SECONDS: 1800,
      BCRYPT_COST: 10,
      MAX_BODY_BYTES: 16 * 1024,
      PURCHASE_STRATEGY: 'lock',
      LOCK_TTL_MS: 5000,
      LOCK_WAIT_BUDGET_MS: 8000,
      LOCK_MAX_RETRIES: 5000,
      LOCK_RETRY_DELAY_MS: 2,
      LOCK_RETRY_MAX_DELAY_MS: 50,
      HOLD_STALE_AFTER_MS: 60_000,
      RECONCILE_INTERVAL_MS: 15_000,
      RECONCILE_ON_START: true,
    });
    expect(config.DYNAMODB_ENDPOINT).toBeUndefined();
    expect(config.JWT_SECRET).toBeUndefined();
    expect(config.JWT_SECRET_ARN).toBeUndefined();
    expect(config.REDIS_AUTH_SECRET_ARN).toBeUndefined();
  });

  it('coerces numeric strings to numbers', () => {
    const config = parseConfig({
      JWT_TTL_SECONDS: '60',
      BCRYPT_COST: '4',
      MAX_BODY_BYTES: '1024',
      LOCK_TTL_MS: '0',
    });
    expect(config).toMatchObject({
      JWT_TTL_SECONDS: 60,
      BCRYPT_COST: 4,
      MAX_BODY_BYTES: 1024,
      LOCK_TTL_MS: 0,
    });
  });

  it.each([
    ['true', true],
    ['1', true],
    ['false', false],
    ['0', false],
  ])('reads the flag RECONCILE_ON_START=%s as %s', (value, expected) => {
    expect(parseConfig({ RECONCILE_ON_START: value }).RECONCILE_ON_START).toBe(expected);
  });

  it('keeps the deployed settings it is given', () => {
    const config = parseConfig({
      STAGE: 'prod',
      DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000',
      JWT_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:1:secret:jwt',
      PURCHASE_STRATEGY: 'atomic',
      LOG_LEVEL: 'DEBUG',
    });
    expect(config).toMatchObject({
      STAGE: 'prod',
      DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000',
      JWT_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:1:secret:jwt',
      PURCHASE_STRATEGY: 'atomic',
      LOG_LEVEL: 'DEBUG',
    });
  });

  it('ignores variables it does not know', () => {
    expect(parseConfig({ PATH: '/usr/bin', HOME: '/root' })).not.toHaveProperty('PATH');
  });

  it.each([
    ['JWT_SECRET', 'too-short'],
    ['BCRYPT_COST', '3'],
    ['BCRYPT_COST', '16'],
    ['BCRYPT_COST', 'ten'],
    ['JWT_TTL_SECONDS', '-1'],
    ['JWT_TTL_SECONDS', '1.5'],
    ['MAX_BODY_BYTES', 'lots'],
    ['LOCK_WAIT_BUDGET_MS', '-5'],
    ['PURCHASE_STRATEGY', 'optimistic'],
    ['LOG_LEVEL', 'TRACE'],
    ['DYNAMODB_ENDPOINT', 'not a url'],
    ['RECONCILE_ON_START', 'yes'],
  ])('refuses %s=%j and names the field', (name, value) => {
    expect(() => parseConfig({ [name]: value })).toThrow(new RegExp(`Invalid configuration: .*${name}`));
  });

  it('names every invalid field at once', () => {
    expect(() => parseConfig({ BCRYPT_COST: '99', PURCHASE_STRATEGY: 'x' })).toThrow(
      /BCRYPT_COST.*PURCHASE_STRATEGY|PURCHASE_STRATEGY.*BCRYPT_COST/,
    );
  });

  it('accepts a 32-character JWT_SECRET', () => {
    expect(parseConfig({ JWT_SECRET: 'k'.repeat(32) }).JWT_SECRET).toBe('k'.repeat(32));
  });
});
