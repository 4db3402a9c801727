/**
 * The test client: the local API Gateway (bin/local/api-gateway.ts) on a free port in this worker,
 * invoking the real handlers over the test Redis and DynamoDB Local, and helpers that speak the
 * contract over real HTTP.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { type ApiServerOptions, createApiServer } from '../../bin/local/api-gateway.ts';
import { services } from './app.ts';
import { checkAgainstDocument } from './openapi.ts';

export interface Reply<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface TestApi {
  url: string;
  request<T = any>(
    method: string,
    path: string,
    options?: { token?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<Reply<T>>;
  /** A fresh user with a token. */
  user(prefix?: string): Promise<{ id: number; username: string; token: string }>;
  admin(): Promise<string>;
  /** An admin-created product. */
  product(
    stock: number,
    options?: { price?: number; strategy?: 'lock' | 'atomic'; stockShards?: number },
  ): Promise<{ id: number; price: number }>;
  close(): Promise<void>;
}

export const unique = (prefix = 'u') => `${prefix}_${randomBytes(5).toString('hex')}`;

export async function startTestApi(options: ApiServerOptions = {}): Promise<TestApi> {
  const server = createApiServer(options);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let adminToken: string | undefined;

  const request: TestApi['request'] = async (method, path, options = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${url}${path}`, { method, headers, ...(body !== undefined && { body }) });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {}
    // Every answer a contract test receives must be what the OpenAPI document says.
    checkAgainstDocument(method, path, {
      status: response.status,
      body: parsed,
      headers: response.headers,
      text,
    });
    return { status: response.status, body: parsed as never, headers: response.headers };
  };

  const login = async (username: string, password: string) => {
    const reply = await request('POST', '/api/auth/login', { body: { username, password } });
    if (reply.status !== 200)
      throw new Error(`login ${username}: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply.body.access_token as string;
  };

  const api: TestApi = {
    url,
    request,
    async user(prefix = 'buyer') {
      const username = unique(prefix);
      const created = await request('POST', '/api/auth/register', {
        body: { username, password: 'password123' },
      });
      if (created.status !== 201)
        throw new Error(`register: ${created.status} ${JSON.stringify(created.body)}`);
      return { id: created.body.id, username, token: await login(username, 'password123') };
    },
    async admin() {
      if (!adminToken) {
        const username = unique('admin');
        await (await services()).accounts.upsertAdmin(username, 'admin-password');
        adminToken = await login(username, 'admin-password');
      }
      return adminToken;
    },
    async product(stock, options = {}) {
      const price = options.price ?? 1000;
      const reply = await request('POST', '/api/products', {
        token: await api.admin(),
        body: {
          name: unique('product'),
          price,
          stock,
          ...(options.strategy && { strategy: options.strategy }),
          ...(options.stockShards && { stock_shards: options.stockShards }),
        },
      });
      if (reply.status !== 201)
        throw new Error(`create product: ${reply.status} ${JSON.stringify(reply.body)}`);
      return { id: reply.body.id, price };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return api;
}

/** Count replies by status code: `{200: 10, 400: 10}`. */
export function countStatuses(replies: readonly Reply[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const r of replies) counts[r.status] = (counts[r.status] ?? 0) + 1;
  return counts;
}
