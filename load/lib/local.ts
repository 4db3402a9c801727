/**
 * What the benchmark (load/bench.ts) and the load runner (load/run.ts) share: a small JSON client
 * for the API, the local runtime as a child process, and buyers with tokens.
 *
 * The runtime runs in its own process so the load generator and the verifier never share an event
 * loop with the server they measure.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, isListening } from '../../bin/local/processes.ts';

export interface Api {
  url: string;
  call(
    method: string,
    path: string,
    body?: unknown,
    token?: string,
    // biome-ignore lint/suspicious/noExplicitAny: the JSON of any endpoint; callers read what they need.
  ): Promise<{ status: number; body: any; ms: number }>;
}

export function api(url: string): Api {
  return {
    url,
    async call(method, path, body, token) {
      const started = performance.now();
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return {
        status: response.status,
        body: text ? JSON.parse(text) : null,
        ms: performance.now() - started,
      };
    },
  };
}

export async function startRuntime(
  env: Record<string, string>,
  /** Node options before the entry point, e.g. `--cpu-prof` (every thread writes a profile at exit). */
  nodeArgs: readonly string[] = [],
  /** Where the runtime's stderr (its error log lines) goes: this terminal, or an open file's descriptor. */
  stderr: 'inherit' | number = 'inherit',
): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'bin/start.ts'], {
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', stderr],
  });
  // Generous: on a machine busy with other work, loading every handler through tsx can take a minute.
  const deadline = Date.now() + 120_000;
  while (!(await isListening(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL'); // never leave a half-started runtime behind
      throw new Error('local runtime did not start');
    }
    await sleep(100);
  }
  return { url: `http://127.0.0.1:${port}`, child };
}

/**
 * Tokens of `count` users named `<prefix>_<i>`, registered if new (a 409 means an earlier run made
 * them, which is fine: they log in all the same), 50 at a time; a 5xx is tried twice more.
 */
export async function users(
  client: Api,
  count: number,
  prefix: string,
  password = 'bench-password',
): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < count; i += 50) {
    const batch = Array.from({ length: Math.min(50, count - i) }, (_, j) => `${prefix}_${i + j}`);
    tokens.push(
      ...(await Promise.all(
        batch.map(async (username) => {
          // A busy machine can time a request out (5xx): setup tries again rather than fail a session.
          // A registration whose answer timed out may land after its retry saw 409: login then waits.
          const retried = async (path: string) => {
            let reply = await client.call('POST', path, { username, password });
            const again = (status: number) => status >= 500 || (path.endsWith('/login') && status === 401);
            for (let attempt = 1; attempt < 3 && again(reply.status); attempt++) {
              await sleep(500 * attempt);
              reply = await client.call('POST', path, { username, password });
            }
            return reply;
          };
          const registered = await retried('/api/auth/register');
          if (registered.status !== 201 && registered.status !== 409)
            throw new Error(`registering ${username} answered ${registered.status}`);
          const login = await retried('/api/auth/login');
          if (login.status !== 200) throw new Error(`login of ${username} answered ${login.status}`);
          return login.body.access_token as string;
        }),
      )),
    );
  }
  return tokens;
}
