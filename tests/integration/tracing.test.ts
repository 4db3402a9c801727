/**
 * X-Ray tracing as Lambda runs it: the login function's bundle (built as CDK builds it) in a fresh
 * process with Lambda's tracing environment (AWS_EXECUTION_ENV, LAMBDA_TASK_ROOT, a sampled
 * _X_AMZN_TRACE_ID) and AWS_XRAY_DAEMON_ADDRESS pointed at a UDP socket of this test, standing where
 * the X-Ray daemon listens in a Lambda sandbox. A failed login reads Redis (the login limits) and
 * DynamoDB (the user): both must arrive as subsegments of the invocation's trace.
 */
import { createSocket, type Socket } from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpEvent, measureColdStarts } from '../../load/lib/cold-start.ts';

interface Subsegment {
  readonly name: string;
  readonly trace_id?: string;
  readonly parent_id?: string;
  readonly namespace?: string;
  readonly error?: boolean;
  readonly fault?: boolean;
  readonly subsegments?: readonly Subsegment[];
}

const traceRoot = '1-67a0c0de-0123456789abcdef01234567';
const parent = '53995c3f42cd8ad8';
// Inside the project: the bundle imports @aws-sdk/* from its node_modules, as Lambda's runtime provides it.
mkdirSync('load/results', { recursive: true });
const dir = mkdtempSync(join('load', 'results', 'tracing-test-'));
let daemon: Socket;
const received: Subsegment[] = [];

beforeAll(async () => {
  daemon = createSocket('udp4');
  // Each datagram: a JSON header line, then one segment document.
  daemon.on('message', (message) => {
    const [, document] = message.toString('utf8').split('\n');
    if (document) received.push(JSON.parse(document) as Subsegment);
  });
  await new Promise<void>((resolve) => daemon.bind(0, '127.0.0.1', resolve));
});

afterAll(() => {
  daemon.close();
  rmSync(dir, { recursive: true, force: true });
});

const flatten = (segments: readonly Subsegment[]): Subsegment[] =>
  segments.flatMap((s) => [s, ...flatten(s.subsegments ?? [])]);

describe('X-Ray tracing in Lambda', () => {
  it('records the invocation, the Redis calls and the DynamoDB calls of a failed login as subsegments of its trace', async () => {
    const { port } = daemon.address();
    const env = Object.fromEntries(
      Object.entries(process.env).filter((e): e is [string, string] => typeof e[1] === 'string'),
    );
    const event = httpEvent('POST', '/api/auth/login', {
      routeKey: 'POST /api/auth/login',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: `nobody-${Date.now()}`, password: 'not-the-password' }),
    });

    const [result] = await measureColdStarts({
      outDir: dir,
      runs: 1,
      env: {
        ...env,
        AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
        LAMBDA_TASK_ROOT: dir,
        _HANDLER: 'index.handler',
        _X_AMZN_TRACE_ID: `Root=${traceRoot};Parent=${parent};Sampled=1`,
        AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${port}`,
        AWS_XRAY_CONTEXT_MISSING: 'LOG_ERROR',
      },
      functions: [
        {
          name: 'login-user',
          trigger: 'POST /api/auth/login',
          probe: { label: 'unknown user → 401', event, expected: 401 },
        },
      ],
    });
    // The last datagrams may still be in flight when the process has exited.
    await new Promise((resolve) => setTimeout(resolve, 200));

    expect(result?.statuses).toEqual([401]);
    const top = received.filter((s) => s.trace_id === traceRoot);
    expect(top.length).toBeGreaterThan(0);
    // The handler's own subsegment hangs off the invocation's facade segment.
    expect(top.some((s) => s.parent_id === parent && s.name === '## index.handler')).toBe(true);
    const names = flatten(top).map((s) => s.name);
    expect(names.some((n) => /^Redis RedisWindows\.admit$/.test(n))).toBe(true);
    expect(names.some((n) => /^DynamoDB UserRepository\.getByUsername$/.test(n))).toBe(true);
    // The SDK call itself, recorded by the captured client: service name and AWS namespace.
    expect(flatten(top).some((s) => s.name === 'DynamoDB' && s.namespace === 'aws')).toBe(true);
    // A failed login (401) is the caller's error, not the service's fault.
    expect(top.find((s) => s.name === '## index.handler')?.error).toBe(true);
    expect(flatten(top).some((s) => s.fault === true)).toBe(false);
  }, 60_000);
});
