/**
 * Lambda's execution model on one machine: every function runs in its own worker threads
 * (node:worker_threads), so a CPU-heavy invocation (a sign-up's bcrypt hash) cannot stall another
 * function's event loop, a lock holder's included.
 *
 * - A worker is one sandbox: it is spawned on demand (a cold start, logged with its init time),
 *   loads functions/<name>.ts once, stays warm and runs one invocation at a time.
 * - Each function has at most `concurrency` workers (settings.ts); all functions together at most
 *   `maxWorkers`. When every worker of a function is busy, requests wait in that function's queue
 *   (Lambda would throttle at once; a laptop has fewer sandboxes than Lambda, so waiting is the
 *   honest local answer); beyond `queueLimit` waiting requests a new one fails with
 *   FunctionThrottledError, the gateway's 429.
 * - The function's timeout is enforced: an invocation still running at its deadline is ended by
 *   terminating its worker (FunctionTimeoutError, the gateway's 503), and the next request gets a
 *   fresh worker, as Lambda restarts a sandbox after a timeout.
 * - `close()` terminates every worker and removes the bundles.
 *
 * - Cold starts run at most one per CPU core at a time: the first workers are ready sooner than if
 *   a crowd's first second started every worker at once on a two-core laptop.
 *
 * A worker runs its function's esbuild bundle (bundle.ts), built for all functions by `prepare()`
 * (or the first cold start) into a temporary folder: plain JavaScript, so the thread needs no
 * TypeScript loader.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { type ResourceLimits, Worker } from 'node:worker_threads';
import type { FunctionName } from '../../shared/routes.ts';
import { bundleFunctions } from './bundle.ts';
import type { Done, FromWorker, ToWorker } from './function-worker.ts';
import {
  FunctionFailedError,
  FunctionThrottledError,
  FunctionTimeoutError,
  type Invoker,
} from './invocation.ts';
import { FUNCTION_MEMORY_MB } from './lambda-context.ts';
import type { FunctionLimits, RuntimeSettings } from './settings.ts';

/**
 * A worker not ready by then is given up (its oldest waiting request fails). Lambda's init phase gets
 * 10 s in a sandbox of its own; here every worker shares the laptop's cores, and on a busy two-core
 * machine loading a bundle while others hash passwords took longer than that, so the bound is
 * looser: it is there for a module that hangs, not for a slow machine.
 */
const INIT_TIMEOUT_MS = 30_000;

/** Workers loading their bundle at once, at most. */
const PARALLEL_COLD_STARTS = Math.max(1, availableParallelism());

/** What the pool reports as it works; the runtime logs some of it, tests count it. */
export type PoolEvent =
  | { type: 'cold-start'; functionName: FunctionName; workerId: number; initMs: number }
  | {
      type: 'invocation';
      functionName: FunctionName;
      workerId: number;
      requestId: string;
      /** Wall-clock ms as the worker itself measured them. */
      startedAt: number;
      endedAt: number;
      /** Invocations running in the worker at once, as the worker counted them. */
      concurrent: number;
      ok: boolean;
    }
  | { type: 'timeout'; functionName: FunctionName; workerId: number; requestId: string; timeoutMs: number }
  | {
      type: 'exit';
      functionName: FunctionName;
      workerId: number;
      reason: 'timeout' | 'crash' | 'init-failed' | 'retired' | 'shutdown';
    };

export interface FunctionPoolOptions {
  readonly settings: Pick<RuntimeSettings, 'maxWorkers' | 'queueLimit' | 'functions'>;
  readonly log?: (line: string) => void;
  readonly onEvent?: (event: PoolEvent) => void;
  /** The workers' environment. @default a copy of this process's, taken at each spawn */
  readonly env?: NodeJS.ProcessEnv;
}

export interface FunctionStats {
  readonly workers: number;
  readonly busy: number;
  readonly queued: number;
}

interface Pending {
  readonly requestId: string;
  readonly event: unknown;
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: Error) => void;
}

interface Sandbox {
  /** Absent while the function's bundle is being built. */
  worker?: Worker;
  readonly id: number;
  readonly slot: Slot;
  state: 'starting' | 'idle' | 'busy' | 'gone';
  current?: { pending: Pending; timer: NodeJS.Timeout };
  lastUsed: number;
}

interface Slot extends FunctionLimits {
  readonly name: FunctionName;
  readonly sandboxes: Set<Sandbox>;
  readonly idle: Sandbox[];
  readonly queue: Pending[];
  starting: number;
}

export class FunctionPool implements Invoker {
  private readonly slots = new Map<FunctionName, Slot>();
  private readonly log: (line: string) => void;
  private readonly emit: (event: PoolEvent) => void;
  private readonly exits = new Set<Promise<unknown>>();
  private bundles: Promise<Map<string, string>> | undefined;
  private bundleDir: string | undefined;
  /** Workers spawned and not yet ready, over all functions (each slot counts its own too). */
  private starting = 0;
  private nextId = 1;
  private closed = false;
  private pumping = false;
  private pumpAgain = false;

  constructor(private readonly options: FunctionPoolOptions) {
    this.log = options.log ?? ((line) => console.log(line));
    this.emit = options.onEvent ?? (() => undefined);
  }

  invoke(functionName: FunctionName, event: unknown, requestId: string): Promise<unknown> {
    if (this.closed) return Promise.reject(new FunctionFailedError(functionName, 'shutdown'));
    const slot = this.slot(functionName);
    if (slot.queue.length >= this.options.settings.queueLimit) {
      return Promise.reject(new FunctionThrottledError(functionName, slot.queue.length));
    }
    return new Promise((resolve, reject) => {
      slot.queue.push({ requestId, event, resolve, reject });
      this.pump();
    });
  }

  stats(): Record<string, FunctionStats> {
    const stats: Record<string, FunctionStats> = {};
    for (const slot of this.slots.values()) {
      if (slot.sandboxes.size === 0 && slot.queue.length === 0) continue;
      stats[slot.name] = {
        workers: slot.sandboxes.size,
        busy: [...slot.sandboxes].filter((s) => s.state === 'busy').length,
        queued: slot.queue.length,
      };
    }
    return stats;
  }

  /** Live workers of every function (starting, idle or busy). */
  get size(): number {
    let total = 0;
    for (const slot of this.slots.values()) total += slot.sandboxes.size;
    return total;
  }

  /** Terminate every worker; waiting and running invocations fail. Resolves once all threads exited. */
  async close(): Promise<void> {
    this.closed = true;
    for (const slot of this.slots.values()) {
      for (const pending of slot.queue.splice(0)) {
        pending.reject(new FunctionFailedError(slot.name, 'shutdown'));
      }
      for (const sandbox of [...slot.sandboxes]) {
        this.retire(sandbox, 'shutdown', new FunctionFailedError(slot.name, 'shutdown'));
      }
    }
    await Promise.all([...this.exits]);
    await this.bundles?.catch(() => undefined);
    if (this.bundleDir) {
      // A profiled runtime keeps its bundles' source maps beside the profiles: the profiles point
      // into the bundles, and the maps lead back to the sources and packages the time was spent in.
      const profileDir = process.execArgv.find((a) => a.startsWith('--cpu-prof-dir='))?.split('=')[1];
      if (profileDir)
        cpSync(join(this.bundleDir, 'out'), join(profileDir, 'bundles', basename(this.bundleDir)), {
          recursive: true,
        });
      rmSync(this.bundleDir, { recursive: true, force: true });
    }
  }

  private slot(name: FunctionName): Slot {
    let slot = this.slots.get(name);
    if (!slot) {
      const limits = this.options.settings.functions.get(name);
      if (!limits) throw new Error(`No limits for function ${name}`);
      slot = { name, ...limits, sandboxes: new Set(), idle: [], queue: [], starting: 0 };
      this.slots.set(name, slot);
    }
    return slot;
  }

  /** Hand waiting requests to idle workers, and start workers for the ones left over. */
  private pump() {
    if (this.closed) return;
    // Retiring a worker to make room pumps again; run that pass after this one, not inside it.
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        for (const slot of this.slots.values()) {
          while (slot.queue.length > 0 && slot.idle.length > 0) {
            // The most recently used worker first: it is the warmest.
            this.run(slot.idle.pop() as Sandbox, slot.queue.shift() as Pending);
          }
        }
        // Cold-start turns go to the function with the fewest workers first: a function with none
        // (its requests wait for any worker at all) before a busy function's fifth.
        while (this.starting < PARALLEL_COLD_STARTS) {
          let next: Slot | undefined;
          for (const slot of this.slots.values()) {
            const wanting = slot.queue.length > slot.starting && slot.sandboxes.size < slot.concurrency;
            if (wanting && (!next || slot.sandboxes.size < next.sandboxes.size)) next = slot;
          }
          if (!next || !this.makeRoom(next)) break;
          this.spawn(next);
        }
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
  }

  /** Room for one more worker: under the bound, or by retiring the longest-idle worker of another function. */
  private makeRoom(forSlot: Slot): boolean {
    if (this.size < this.options.settings.maxWorkers) return true;
    let oldest: Sandbox | undefined;
    for (const slot of this.slots.values()) {
      if (slot === forSlot) continue;
      for (const sandbox of slot.idle) if (!oldest || sandbox.lastUsed < oldest.lastUsed) oldest = sandbox;
    }
    if (!oldest) return false;
    this.retire(oldest, 'retired');
    return true;
  }

  /**
   * Bundle every function (once; a failed build is tried again by the next cold start). The
   * runtime calls it before it listens; otherwise the first cold start does.
   */
  prepare(): Promise<Map<string, string>> {
    if (!this.bundles) {
      this.bundleDir ??= mkdtempSync(join(tmpdir(), 'flash-sale-functions-'));
      const names = [...this.options.settings.functions.keys()];
      const startedAt = performance.now();
      const built = bundleFunctions(names, this.bundleDir).then((files) => {
        this.log(`bundled ${names.length} functions in ${Math.round(performance.now() - startedAt)} ms`);
        return files;
      });
      built.catch(() => {
        this.bundles = undefined;
      });
      this.bundles = built;
    }
    return this.bundles;
  }

  /** Count a new worker for `slot` now (so the limits hold while it starts) and start it. */
  private spawn(slot: Slot) {
    const sandbox: Sandbox = { id: this.nextId++, slot, state: 'starting', lastUsed: 0 };
    slot.sandboxes.add(sandbox);
    slot.starting += 1;
    this.starting += 1;
    this.prepare().then(
      (files) => {
        const file = files.get(slot.name);
        if (sandbox.state !== 'starting') return;
        if (file) this.start(sandbox, file);
        else this.failInit(sandbox, new Error(`no bundle for ${slot.name}`));
      },
      (error: unknown) => this.failInit(sandbox, error instanceof Error ? error : new Error(String(error))),
    );
  }

  private start(sandbox: Sandbox, file: string) {
    const { slot } = sandbox;
    const startedAt = performance.now();
    const resourceLimits: ResourceLimits = { maxOldGenerationSizeMb: FUNCTION_MEMORY_MB };
    const worker = new Worker(file, {
      // The stack sets NODE_OPTIONS=--enable-source-maps for every function; so does this. A runtime
      // started with --cpu-prof (the load runner's --profile) profiles its functions' threads too.
      execArgv: ['--enable-source-maps', ...process.execArgv.filter((a) => a.startsWith('--cpu-prof'))],
      resourceLimits,
      // The SDK's Node-version notice: this process has printed it; once per worker is noise.
      env: { ...(this.options.env ?? process.env), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      name: slot.name,
    });
    sandbox.worker = worker;
    const initTimer = setTimeout(() => {
      this.failInit(sandbox, new Error(`not ready within ${INIT_TIMEOUT_MS} ms`));
    }, INIT_TIMEOUT_MS);
    const exited = new Promise<void>((resolve) => {
      worker.once('exit', () => {
        clearTimeout(initTimer);
        resolve();
      });
    });
    this.exits.add(exited);
    void exited.then(() => this.exits.delete(exited));

    worker.on('message', (message: FromWorker) => {
      if (message.type === 'ready') {
        clearTimeout(initTimer);
        if (sandbox.state !== 'starting') return;
        slot.starting -= 1;
        this.starting -= 1;
        const initMs = Math.round(performance.now() - startedAt);
        this.log(`cold start ${slot.name} (worker ${sandbox.id}): init ${initMs} ms`);
        this.emit({ type: 'cold-start', functionName: slot.name, workerId: sandbox.id, initMs });
        this.release(sandbox);
        return;
      }
      this.finish(sandbox, message);
    });
    worker.on('error', (error) => {
      if (sandbox.state === 'starting') this.failInit(sandbox, error);
      else this.crash(sandbox, error);
    });
    worker.on('exit', (code) => {
      if (sandbox.state === 'gone') return;
      const error = new Error(`worker exited with code ${code}`);
      if (sandbox.state === 'starting') this.failInit(sandbox, error);
      else this.crash(sandbox, error);
    });
  }

  private run(sandbox: Sandbox, pending: Pending) {
    const { slot } = sandbox;
    sandbox.state = 'busy';
    const deadline = Date.now() + slot.timeoutMs;
    const timer = setTimeout(() => this.timeOut(sandbox), slot.timeoutMs);
    sandbox.current = { pending, timer };
    const message: ToWorker = {
      type: 'invoke',
      requestId: pending.requestId,
      event: pending.event,
      context: {
        functionName: slot.name,
        awsRequestId: pending.requestId,
        deadline,
        memoryLimitInMB: FUNCTION_MEMORY_MB,
      },
    };
    sandbox.worker?.postMessage(message);
  }

  private finish(sandbox: Sandbox, message: Done) {
    const current = sandbox.current;
    if (sandbox.state !== 'busy' || !current || current.pending.requestId !== message.requestId) return;
    clearTimeout(current.timer);
    sandbox.current = undefined;
    const { slot } = sandbox;
    this.emit({
      type: 'invocation',
      functionName: slot.name,
      workerId: sandbox.id,
      requestId: message.requestId,
      startedAt: message.startedAt,
      endedAt: message.endedAt,
      concurrent: message.concurrent,
      ok: message.ok,
    });
    if (message.ok) {
      current.pending.resolve(message.result);
    } else {
      const cause = Object.assign(new Error(message.error?.message), message.error);
      current.pending.reject(new FunctionFailedError(slot.name, 'invoke', { cause }));
    }
    this.release(sandbox);
  }

  /** A worker is free: it takes the next waiting request of its function, or waits warm. */
  private release(sandbox: Sandbox) {
    sandbox.state = 'idle';
    sandbox.lastUsed = Date.now();
    sandbox.slot.idle.push(sandbox);
    this.pump();
  }

  private timeOut(sandbox: Sandbox) {
    const current = sandbox.current;
    if (sandbox.state !== 'busy' || !current) return;
    const { slot } = sandbox;
    const { requestId } = current.pending;
    this.log(
      `timeout ${slot.name} (worker ${sandbox.id}): request ${requestId} ran past ${slot.timeoutMs} ms; worker terminated`,
    );
    this.emit({
      type: 'timeout',
      functionName: slot.name,
      workerId: sandbox.id,
      requestId,
      timeoutMs: slot.timeoutMs,
    });
    this.retire(sandbox, 'timeout', new FunctionTimeoutError(slot.name, requestId, slot.timeoutMs));
  }

  private failInit(sandbox: Sandbox, error: Error) {
    if (sandbox.state !== 'starting') return;
    const { slot } = sandbox;
    console.error(`init failed ${slot.name} (worker ${sandbox.id}):`, error);
    // As in Lambda, a failed init fails one invocation, the one that waited longest; the next
    // waiting request starts a new worker. A module that cannot load so fails each request once.
    slot.queue.shift()?.reject(new FunctionFailedError(slot.name, 'init', { cause: error }));
    this.retire(sandbox, 'init-failed');
  }

  private crash(sandbox: Sandbox, error: Error) {
    if (sandbox.state === 'gone') return;
    console.error(`worker crashed ${sandbox.slot.name} (worker ${sandbox.id}):`, error);
    this.retire(sandbox, 'crash', new FunctionFailedError(sandbox.slot.name, 'invoke', { cause: error }));
  }

  /** Take a worker out of the pool and terminate its thread; its running invocation fails with `error`. */
  private retire(sandbox: Sandbox, reason: Extract<PoolEvent, { type: 'exit' }>['reason'], error?: Error) {
    if (sandbox.state === 'gone') return;
    const { slot } = sandbox;
    if (sandbox.state === 'starting') {
      slot.starting -= 1;
      this.starting -= 1;
    }
    sandbox.state = 'gone';
    slot.sandboxes.delete(sandbox);
    const at = slot.idle.indexOf(sandbox);
    if (at >= 0) slot.idle.splice(at, 1);
    if (sandbox.current) {
      clearTimeout(sandbox.current.timer);
      sandbox.current.pending.reject(error ?? new FunctionFailedError(slot.name, 'invoke'));
      sandbox.current = undefined;
    }
    const exit = () => this.emit({ type: 'exit', functionName: slot.name, workerId: sandbox.id, reason });
    if (sandbox.worker) void sandbox.worker.terminate().finally(exit);
    else exit();
    this.pump();
  }
}
