/**
 * The artillery processor shared by every scenario (load/scenarios.ts names its functions). The
 * runner bundles it with esbuild into each run's folder, so artillery loads plain CommonJS.
 *
 * Besides choosing what to buy and how long to think, it writes what the client saw, one JSON line
 * per event, to LOAD_EVENTS_DIR (one file per artillery worker thread):
 *   {k:'buy', id, u, p, q, t}            a purchase about to be sent (user, product, quantity, time)
 *   {k:'res', id, n, s, t, ms, pid?, c?}  any response (name, status, sent at, first byte in ms,
 *                                        purchase id of a 200, error code of a 4xx/5xx)
 *   {k:'user', u, n}                     a user the run registered (id, username)
 *   {k:'signup', u, s, ms}               a sign-up finished: the login's status and the time from
 *                                        sending the registration to the login's answer
 * A 'buy' without its 'res' is an attempt that never got an answer (timeout, reset). The verifier
 * joins these with DynamoDB; the latency picture is drawn from the 'res' lines at 1 s resolution
 * (artillery's own intermediate reports are fixed 10 s windows, too coarse for a 2 s flash crowd).
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';

/** The parts of artillery's objects this file touches (artillery ships no types). */
interface Vars {
  [name: string]: unknown;
}
interface Context {
  vars: Vars;
}
interface Events {
  emit(kind: 'counter' | 'histogram', name: string, value: number): void;
}
interface RequestParams {
  uuid: string;
  name?: string;
  json?: unknown;
}
interface Response {
  statusCode: number;
  body?: unknown;
  timings?: { start?: number; upload?: number; phases?: { firstByte?: number } };
}
type Next = (error?: Error | null) => void;

/**
 * When the load began: the first virtual user's first loop turn (chooseTask; Locust's --run-time
 * counts from the start of the test). Not the module's load, which a busy machine may put seconds
 * before the first arrival.
 */
let runStartedAt: number | undefined;
const dir = process.env.LOAD_EVENTS_DIR;
let fd: number | undefined;
if (dir) {
  mkdirSync(dir, { recursive: true });
  // One synchronous append per event: an artillery worker can end abruptly, and a buffered stream
  // would then lose the tail, which is exactly the part a verifier needs.
  fd = openSync(join(dir, `events-${process.pid}-${threadId}.ndjson`), 'a');
  process.once('exit', () => fd !== undefined && closeSync(fd));
}

function write(event: Record<string, unknown>) {
  if (fd !== undefined) writeSync(fd, `${JSON.stringify(event)}\n`);
}

/** Wall-clock milliseconds with sub-millisecond precision (worker threads share the clock). */
const now = () => performance.timeOrigin + performance.now();

const num = (vars: Vars, name: string, fallback: number) => {
  const value = Number(vars[name]);
  return Number.isFinite(value) ? value : fallback;
};
/** Lists travel as "1,2,3": artillery treats an array variable as "pick one per virtual user". */
const list = (vars: Vars, name: string) =>
  String(vars[name] ?? '')
    .split(',')
    .filter(Boolean)
    .map(Number);
const between = (min: number, max: number) => min + Math.random() * (max - min);
const randomInt = (min: number, max: number) => Math.floor(between(min, max + 1));

let users = 0;

/**
 * Flow step of the sign-up variants: a username no earlier run used (the runner's prefix, this
 * worker thread, a counter), and the clock for the whole sign-up.
 */
export function newUser(context: Context, _events: Events, done: Next) {
  users += 1;
  context.vars.username = `${String(context.vars.userPrefix ?? 'load')}_${threadId}_${users}`;
  context.vars.signupStartedAt = now();
  done();
}

/** Flow step: a think time drawn between thinkMin and thinkMax seconds (Locust's `between`). */
export function think(context: Context, _events: Events, done: Next) {
  const ms = between(num(context.vars, 'thinkMin', 0), num(context.vars, 'thinkMax', 0)) * 1000;
  setTimeout(done, ms);
}

/** Flow step: the product of the next stock view or purchase, uniformly among productIds. */
export function pickProduct(context: Context, _events: Events, done: Next) {
  const ids = list(context.vars, 'productIds');
  context.vars.productId = ids[Math.floor(Math.random() * ids.length)];
  done();
}

/**
 * Flow step of the mixed scenario: one of Locust's weighted tasks (list 3, stock 2, buy 5 by
 * default) for the next loop turn, after the think time.
 */
export function chooseTask(context: Context, events: Events, done: Next) {
  runStartedAt ??= Date.now();
  const weights = list(context.vars, 'weights');
  const total = weights.reduce((a, b) => a + b, 0);
  let roll = Math.random() * total;
  let task = weights.length - 1;
  for (const [i, weight] of weights.entries()) {
    roll -= weight;
    if (roll < 0) {
      task = i;
      break;
    }
  }
  context.vars.task = task;
  pickProduct(context, events, () => think(context, events, done));
}

export const isListTask = (vars: Vars) => vars.task === 0;
export const isStockTask = (vars: Vars) => vars.task === 1;
export const isBuyTask = (vars: Vars) => vars.task === 2;

/**
 * Flow step of the sign-up variants, after the login: this user's loop clock starts now, so the time
 * its sign-up took (bcrypt, queued behind other sign-ups) does not eat its shopping time.
 */
export function startShopping(context: Context, _events: Events, done: Next) {
  context.vars.shoppingFrom = Date.now();
  done();
}

/**
 * Loop condition: until runSeconds after the load began (Locust's --run-time), or, for a user that
 * signed up inside the run, after it started shopping.
 */
export function beforeDeadline(context: Context, done: (goOn: boolean) => void) {
  runStartedAt ??= Date.now();
  const from = num(context.vars, 'shoppingFrom', runStartedAt);
  done(Date.now() < from + num(context.vars, 'runSeconds', 0) * 1000);
}

/** beforeRequest of a purchase: the body (product, quantity in qtyMin..qtyMax) and the 'buy' line. */
export function preparePurchase(params: RequestParams, context: Context, _events: Events, next: Next) {
  const product = Number(context.vars.productId);
  const quantity = randomInt(num(context.vars, 'qtyMin', 1), num(context.vars, 'qtyMax', 1));
  params.json = { product_id: product, quantity };
  write({ k: 'buy', id: params.uuid, u: Number(context.vars.user_id), p: product, q: quantity, t: now() });
  next();
}

const expected: Record<string, number[]> = {
  register: [201],
  login: [200],
  purchase: [200, 400, 409],
  list: [200],
  stock: [200],
  health: [200],
};

/** afterResponse of every request: the 'res' line and the counters the ensure checks read. */
export function recordResponse(
  params: RequestParams,
  response: Response,
  context: Context,
  events: Events,
  next: Next,
) {
  const name = params.name ?? 'request';
  const status = response.statusCode;
  const ms = response.timings?.phases?.firstByte ?? 0;
  let body: { id?: unknown; code?: unknown; username?: unknown } = {};
  try {
    body = typeof response.body === 'string' ? JSON.parse(response.body) : {};
  } catch {
    // A non-JSON body (a proxy's error page) is recorded by its status alone.
  }
  write({
    k: 'res',
    id: params.uuid,
    n: name,
    s: status,
    t: response.timings?.upload ?? response.timings?.start ?? now(),
    ms,
    ...(name === 'purchase' && status === 200 && { pid: body.id }),
    ...(status >= 400 && typeof body.code === 'string' && { c: body.code }),
  });
  if (name === 'register' && status === 201) write({ k: 'user', u: body.id, n: body.username });
  const signupStartedAt = Number(context.vars.signupStartedAt);
  if (name === 'login' && Number.isFinite(signupStartedAt)) {
    const answeredAt = (response.timings?.upload ?? now()) + ms;
    const total = Math.max(0, answeredAt - signupStartedAt);
    write({ k: 'signup', u: Number(context.vars.user_id), s: status, ms: total });
    events.emit('histogram', 'signup.response_time', total);
  }
  const unexpected = !(expected[name] ?? [200]).includes(status);
  // Emitted as 0 too, so the metric exists and an ensure expression over it always evaluates.
  events.emit('counter', 'load.errors', unexpected ? 1 : 0);
  // Every request but the sign-up's: what the sign-up variants' latency limits apply to.
  if (name !== 'register' && name !== 'login') events.emit('histogram', 'shop.response_time', ms);
  if (name === 'purchase') {
    events.emit('histogram', 'purchase.response_time', ms);
    events.emit('counter', `purchase.${status}`, 1);
  }
  next();
}
