/**
 * Per-function composition (shared/wiring) against the route table (shared/routes.ts): every
 * function loads, asks for nothing its route does not declare, and fails closed at its cold start
 * when a deployed stage lacks a binding.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { JwtUse } from '../../shared/config.ts';
import { needsBeyond, provider } from '../../shared/wiring/provider.ts';

const routes = await import('../../shared/routes.ts');
const functionNames = [
  ...routes.httpRoutes.map((r) => r.function),
  routes.fallbackRoute.function,
  ...routes.scheduledFunctions.map((f) => f.function),
];

const saved = { ...process.env };
afterEach(() => {
  process.env = { ...saved };
  vi.resetModules();
});

/** Import a function's module in a fresh module graph (a cold start) under `env`. */
async function coldStart(name: string, env: Record<string, string | undefined>) {
  vi.resetModules();
  process.env = { ...saved, POWERTOOLS_LOG_LEVEL: 'SILENT', ...env };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete process.env[key];
  return import(`../../functions/${name}.ts`);
}

/** The variables the CDK stack sets for a route's `uses` (lib/endpoint-function.ts). */
function deployedEnv(uses: { tables: object; redis: boolean; jwt: JwtUse }) {
  const env: Record<string, string | undefined> = {
    STAGE: 'prod',
    STORE_ID: undefined,
    JWT_SIGNING_KEY: undefined,
    JWT_VERIFY_KEYS: undefined,
    REDIS_URL: undefined,
    USERS_TABLE: undefined,
    PRODUCTS_TABLE: undefined,
    PURCHASES_TABLE: undefined,
    ORDERS_TABLE: undefined,
    AUDIT_TABLE: undefined,
  };
  for (const table of Object.keys(uses.tables)) env[`${table.toUpperCase()}_TABLE`] = `prod-${table}`;
  if (uses.redis) {
    env.REDIS_URL = 'redis://cache.internal:6379';
    env.STORE_ID = 'prod-products';
  }
  if (uses.jwt === 'sign') env.JWT_SIGNING_KEY_ARN = 'arn:aws:secretsmanager:eu-west-1:1:secret:jwt-sign';
  if (uses.jwt === 'verify') env.JWT_VERIFY_KEYS_ARN = 'arn:aws:secretsmanager:eu-west-1:1:secret:jwt-verify';
  return env;
}

const usesOf = (name: string) =>
  [...routes.httpRoutes, routes.fallbackRoute, ...routes.scheduledFunctions].find((r) => r.function === name)
    ?.uses as { tables: object; redis: boolean; jwt: JwtUse };

describe('each function, deployed with exactly the bindings its route declares', () => {
  it.each(functionNames)('%s loads and exports a handler', async (name) => {
    const module = await coldStart(name, deployedEnv(usesOf(name)));
    expect(typeof module.handler).toBe('function');
  });
});

describe('a deployed function missing a binding', () => {
  const withTables = functionNames.filter((name) => Object.keys(usesOf(name).tables).length > 0);
  it.each(withTables)('%s stops its cold start naming the missing table variable', async (name) => {
    const env = deployedEnv(usesOf(name));
    const [table] = Object.keys(usesOf(name).tables);
    const variable = `${String(table).toUpperCase()}_TABLE`;
    env[variable] = undefined;
    await expect(coldStart(name, env)).rejects.toThrow(new RegExp(`${name} needs ${variable}`));
  });

  const withRedis = functionNames.filter((name) => usesOf(name).redis);
  it.each(withRedis)('%s stops its cold start naming REDIS_URL', async (name) => {
    await expect(coldStart(name, { ...deployedEnv(usesOf(name)), REDIS_URL: undefined })).rejects.toThrow(
      /REDIS_URL/,
    );
  });

  it.each(withRedis)('%s stops its cold start naming STORE_ID (its Redis key namespace)', async (name) => {
    await expect(coldStart(name, { ...deployedEnv(usesOf(name)), STORE_ID: undefined })).rejects.toThrow(
      /STORE_ID/,
    );
  });

  const signers = functionNames.filter((name) => usesOf(name).jwt === 'sign');
  const verifiers = functionNames.filter((name) => usesOf(name).jwt === 'verify');
  it('gives the signing key to the login function alone', () => {
    expect(signers).toEqual(['login-user']);
  });
  it.each(signers)('%s stops its cold start naming JWT_SIGNING_KEY_ARN', async (name) => {
    await expect(
      coldStart(name, { ...deployedEnv(usesOf(name)), JWT_SIGNING_KEY_ARN: undefined }),
    ).rejects.toThrow(/JWT_SIGNING_KEY_ARN/);
  });
  it.each(verifiers)('%s stops its cold start naming JWT_VERIFY_KEYS_ARN', async (name) => {
    await expect(
      coldStart(name, { ...deployedEnv(usesOf(name)), JWT_VERIFY_KEYS_ARN: undefined }),
    ).rejects.toThrow(/JWT_VERIFY_KEYS_ARN/);
  });
  it.each(verifiers)('%s is not rescued by a signing key it was not meant to have', async (name) => {
    await expect(
      coldStart(name, {
        ...deployedEnv(usesOf(name)),
        JWT_VERIFY_KEYS_ARN: undefined,
        JWT_SIGNING_KEY: '{}',
      }),
    ).rejects.toThrow(/JWT_VERIFY_KEYS_ARN/);
  });

  it('is not rescued by the local defaults outside the local stage', async () => {
    const { parseConfig } = await import('../../shared/config.ts');
    const config = parseConfig({ STAGE: 'prod' });
    expect(config.USERS_TABLE).toBeUndefined();
    expect(config.REDIS_URL).toBeUndefined();
    expect(parseConfig({}).USERS_TABLE).toBe('users');
  });
});

describe('providers', () => {
  it('add up what the providers they build on need', async () => {
    const { purchaseService, productService, inventoryAudit } = await import('../../shared/wiring/stock.ts');
    const { orderHistory, purchaseHistory } = await import('../../shared/wiring/history.ts');
    expect(purchaseService.needs).toEqual({
      tables: ['orders', 'products', 'purchases'],
      redis: true,
      jwt: false,
    });
    const { loginService, accountService } = await import('../../shared/wiring/auth.ts');
    expect(loginService.needs).toEqual({ tables: ['users'], redis: true, jwt: 'sign' });
    expect(accountService.needs).toEqual({ tables: ['users'], redis: false, jwt: false });
    expect(productService.needs).toEqual({ tables: ['products'], redis: true, jwt: false });
    expect(inventoryAudit.needs).toEqual({
      tables: ['audit', 'products', 'purchases'],
      redis: true,
      jwt: false,
    });
    expect(orderHistory.needs).toEqual({ tables: ['orders'], redis: false, jwt: false });
    expect(purchaseHistory.needs).toEqual({ tables: ['purchases'], redis: false, jwt: false });
  });

  it('name what a route would have to declare to use them', () => {
    const needsRedis = provider('x', { redis: true, tables: ['orders'] }, [], () => 1);
    expect(needsBeyond(needsRedis.needs, { tables: { orders: 'read' }, redis: false, jwt: false })).toEqual([
      'redis',
    ]);
    expect(needsBeyond(needsRedis.needs, { tables: {}, redis: true, jwt: false })).toEqual(['table orders']);
    const signs = provider('signer', { jwt: 'sign' }, [], () => 1);
    expect(needsBeyond(signs.needs, { tables: {}, redis: false, jwt: 'verify' })).toEqual(['jwt sign']);
  });

  it('refuse at load a handler whose services need more than its route declares', async () => {
    vi.resetModules();
    process.env = { ...saved, STAGE: 'local', JWT_VERIFY_KEYS: '[]', POWERTOOLS_LOG_LEVEL: 'SILENT' };
    const { endpoint } = await import('../../shared/http/endpoint.ts');
    const { purchaseService } = await import('../../shared/wiring/stock.ts');
    // get-current-user declares the users table only; purchases need Redis and three other tables.
    expect(() => endpoint('get-current-user', {}, { purchases: purchaseService }, async () => null)).toThrow(
      /get-current-user uses purchases, which needs table orders, table products, table purchases, redis/,
    );
  });

  it('build once and keep the service; a failed build is tried again', async () => {
    let builds = 0;
    const flaky = provider('flaky', {}, [], () => {
      builds += 1;
      if (builds === 1) throw new Error('Redis is down');
      return { built: builds };
    });
    await expect(flaky.get()).rejects.toThrow('Redis is down');
    const first = await flaky.get();
    expect(await flaky.get()).toBe(first);
    expect(builds).toBe(2);
  });
});
