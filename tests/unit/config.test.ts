import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../shared/config.ts';

describe('parseConfig', () => {
  it("leaves DynamoDB's limits emulation off, at AWS's 1,000 WCU per item and 4 ms, unless switched on", () => {
    expect(parseConfig({})).toMatchObject({
      DYNAMODB_EMULATE_LIMITS: false,
      DYNAMODB_ITEM_WCU: 1000,
      DYNAMODB_EMULATED_LATENCY_MS: 4,
    });
    expect(
      parseConfig({
        DYNAMODB_EMULATE_LIMITS: '1',
        DYNAMODB_ITEM_WCU: '100',
        DYNAMODB_EMULATED_LATENCY_MS: '0',
      }),
    ).toMatchObject({
      DYNAMODB_EMULATE_LIMITS: true,
      DYNAMODB_ITEM_WCU: 100,
      DYNAMODB_EMULATED_LATENCY_MS: 0,
    });
    expect(() => parseConfig({ DYNAMODB_ITEM_WCU: '0' })).toThrow(/DYNAMODB_ITEM_WCU/);
  });

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
    expect(config.JWT_SIGNING_KEY).toBeUndefined();
    expect(config.JWT_SIGNING_KEY_ARN).toBeUndefined();
    expect(config.JWT_VERIFY_KEYS_ARN).toBeUndefined();
    // Sign-ups per address are off locally (load tests sign up a crowd from 127.0.0.1).
    expect(config.SIGNUPS_PER_ADDRESS).toBe(0);
    expect(config.CORS_ALLOWED_ORIGINS).toEqual([]);
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
      JWT_VERIFY_KEYS_ARN: 'arn:aws:secretsmanager:us-east-1:1:secret:jwt',
      PURCHASE_STRATEGY: 'atomic',
      LOG_LEVEL: 'DEBUG',
    });
    expect(config).toMatchObject({
      STAGE: 'prod',
      DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000',
      JWT_VERIFY_KEYS_ARN: 'arn:aws:secretsmanager:us-east-1:1:secret:jwt',
      PURCHASE_STRATEGY: 'atomic',
      LOG_LEVEL: 'DEBUG',
      SIGNUPS_PER_ADDRESS: 20,
    });
  });

  it('ignores variables it does not know', () => {
    expect(parseConfig({ PATH: '/usr/bin', HOME: '/root' })).not.toHaveProperty('PATH');
  });

  it.each([
    ['CORS_ALLOWED_ORIGINS', 'not-an-origin'],
    ['PURCHASES_IN_FLIGHT_PER_USER', '-1'],
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

  it('reads the CORS allowlist as exact origins', () => {
    expect(
      parseConfig({ CORS_ALLOWED_ORIGINS: 'https://shop.example, https://admin.example' })
        .CORS_ALLOWED_ORIGINS,
    ).toEqual(['https://shop.example', 'https://admin.example']);
  });
});
