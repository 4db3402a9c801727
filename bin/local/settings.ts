/**
 * How the local runtime runs the functions, read once from the environment (all optional):
 *
 * | variable                   | default                    | meaning                                          |
 * |----------------------------|----------------------------|--------------------------------------------------|
 * | LOCAL_RUNTIME              | workers                    | `workers`: each function in its own worker       |
 * |                            |                            | threads, as Lambda gives each invocation its own |
 * |                            |                            | sandbox; `in-process`: every handler on the      |
 * |                            |                            | gateway's event loop (no isolation, no timeout)  |
 * | LOCAL_CONCURRENCY          | 4                          | workers per function, one invocation at a time   |
 * |                            |                            | each; more requests wait in the function's queue |
 * | LOCAL_CONCURRENCY_<FN>     | LOCAL_CONCURRENCY          | for one function, e.g.                           |
 * |                            |                            | LOCAL_CONCURRENCY_CREATE_PURCHASE=8              |
 * | LOCAL_MAX_WORKERS          | 32                         | workers of all functions together; at the bound  |
 * |                            |                            | an idle worker of another function is retired    |
 * | LOCAL_TIMEOUT_MS           | the stack's: 10000 (HTTP), | every function's timeout                         |
 * |                            | 55000 (reconcile)          |                                                  |
 * | LOCAL_TIMEOUT_MS_<FN>      | LOCAL_TIMEOUT_MS           | for one function, e.g.                           |
 * |                            |                            | LOCAL_TIMEOUT_MS_REGISTER_USER=2000              |
 * | LOCAL_QUEUE_LIMIT          | 1000                       | requests waiting per function; one more is 429   |
 *
 * `<FN>` is the function's name (shared/routes.ts) in upper case with `_` for `-`; a name that is
 * no function is refused at start-up, so a typo does not silently leave the default in place.
 *
 * Why 4: the stack reserves no concurrency for any function (Lambda scales each one up to the
 * account's limit), so there is no deployed number to copy. Four workers per function keep a lock
 * holder, a few lock waiters and a sign-up's bcrypt hash in separate threads, while the workers a
 * flash sale touches (register, login, stock, purchase: 16) stay affordable on a laptop: a warm
 * worker holds its own module graph, Redis connection and DynamoDB client, 30–40 MB here.
 */
import { z } from 'zod';
import { configSchema } from '../../shared/config.ts';
import { type FunctionName, fallbackRoute, httpRoutes, scheduledFunctions } from '../../shared/routes.ts';

export type Isolation = 'workers' | 'in-process';

export interface FunctionLimits {
  /** Workers of this function at most; each runs one invocation at a time. */
  readonly concurrency: number;
  readonly timeoutMs: number;
}

export interface RuntimeSettings {
  readonly isolation: Isolation;
  readonly maxWorkers: number;
  readonly queueLimit: number;
  readonly functions: ReadonlyMap<FunctionName, FunctionLimits>;
}

export const DEFAULT_CONCURRENCY = 4;
export const DEFAULT_MAX_WORKERS = 32;
export const DEFAULT_QUEUE_LIMIT = 1000;

/** The timeouts lib/ deploys: EndpointFunction's 10 s for HTTP, 55 s for the scheduled reconciler. */
const HTTP_TIMEOUT_MS = 10_000;
const SCHEDULED_TIMEOUT_MS = 55_000;

/**
 * EventBridge starts the reconciler once a minute and its timeout ends a run before the next one,
 * so two never overlap: one worker.
 */
const SCHEDULED_CONCURRENCY = 1;

export const functionNames: readonly FunctionName[] = [
  ...httpRoutes.map((route) => route.function),
  fallbackRoute.function,
  ...scheduledFunctions.map((job) => job.function),
];

const scheduled = new Set<string>(scheduledFunctions.map((job) => job.function));

export const envSuffix = (name: string) => name.toUpperCase().replaceAll('-', '_');

const positive = z.coerce.number().int().positive();

function read(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const parsed = positive.safeParse(raw);
  if (!parsed.success) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return parsed.data;
}

export function runtimeSettings(env: NodeJS.ProcessEnv = process.env): RuntimeSettings {
  const isolation = env.LOCAL_RUNTIME?.trim() || 'workers';
  if (isolation !== 'workers' && isolation !== 'in-process') {
    throw new Error(`LOCAL_RUNTIME must be "workers" or "in-process", got ${JSON.stringify(isolation)}`);
  }

  const known = new Set(functionNames.map(envSuffix));
  for (const name of Object.keys(env)) {
    const suffix = /^LOCAL_(?:CONCURRENCY|TIMEOUT_MS)_(.+)$/.exec(name)?.[1];
    if (suffix && !known.has(suffix)) {
      throw new Error(`${name}: no function is called ${suffix} (one of ${[...known].join(', ')})`);
    }
  }

  const concurrency = read(env, 'LOCAL_CONCURRENCY', DEFAULT_CONCURRENCY);
  const timeoutMs = env.LOCAL_TIMEOUT_MS ? read(env, 'LOCAL_TIMEOUT_MS', HTTP_TIMEOUT_MS) : undefined;
  const functions = new Map<FunctionName, FunctionLimits>();
  for (const name of functionNames) {
    const isScheduled = scheduled.has(name);
    functions.set(name, {
      concurrency: read(
        env,
        `LOCAL_CONCURRENCY_${envSuffix(name)}`,
        isScheduled ? SCHEDULED_CONCURRENCY : concurrency,
      ),
      timeoutMs: read(
        env,
        `LOCAL_TIMEOUT_MS_${envSuffix(name)}`,
        timeoutMs ?? (isScheduled ? SCHEDULED_TIMEOUT_MS : HTTP_TIMEOUT_MS),
      ),
    });
  }
  // A hold or purchase claim older than HOLD_STALE_AFTER_MS is settled by the reconciler as abandoned,
  // so no invocation may still be running then: the rule lib/endpoint-function.ts applies to the stack.
  const holdStaleAfterMs = configSchema.shape.HOLD_STALE_AFTER_MS.parse(env.HOLD_STALE_AFTER_MS);
  for (const [name, limits] of functions) {
    if (limits.timeoutMs >= holdStaleAfterMs)
      throw new Error(
        `${name}: timeout ${limits.timeoutMs} ms must stay below HOLD_STALE_AFTER_MS (${holdStaleAfterMs} ms)`,
      );
  }
  return {
    isolation,
    maxWorkers: read(env, 'LOCAL_MAX_WORKERS', DEFAULT_MAX_WORKERS),
    queueLimit: read(env, 'LOCAL_QUEUE_LIMIT', DEFAULT_QUEUE_LIMIT),
    functions,
  };
}
