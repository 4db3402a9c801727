/** What the client saw, read back from the processor's event lines (see load/processor.ts). */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One purchase attempt as the client knows it. */
export interface Attempt {
  readonly id: string;
  readonly userId: number;
  readonly productId: number;
  readonly quantity: number;
  /** When the request was on the wire (ms since the epoch): the order of arrival. */
  readonly sentAt: number;
  /** null: no answer came (timeout, connection reset). */
  readonly status: number | null;
  /** Time to the answer's first byte (ms), when there was one: sentAt + ms is when the client knew. */
  readonly ms?: number;
  /** The purchase id a 200 carried. */
  readonly purchaseId?: string;
  readonly code?: string;
}

/** Any answered request, for rates and the latency picture. */
export interface Answer {
  readonly name: string;
  readonly status: number;
  readonly at: number;
  readonly ms: number;
}

interface BuyLine {
  k: 'buy';
  id: string;
  u: number;
  p: number;
  q: number;
  t: number;
}
interface UserLine {
  k: 'user';
  u: number;
  n: string;
}
interface SignupLine {
  k: 'signup';
  u: number;
  s: number;
  ms: number;
}
interface ResLine {
  k: 'res';
  id: string;
  n: string;
  s: number;
  t: number;
  ms: number;
  pid?: string;
  c?: string;
}

/** A user a sign-up variant registered during the run. */
export interface SignedUp {
  readonly userId: number;
  readonly username: string;
}

export interface RunEvents {
  readonly attempts: Attempt[];
  readonly answers: Answer[];
  /** Users registered inside the run (sign-up variants). */
  readonly users: SignedUp[];
  /** Per completed sign-up: registration sent → login answered, ms. */
  readonly signups: number[];
}

export function readEvents(dir: string): RunEvents {
  const buys = new Map<string, BuyLine>();
  const results = new Map<string, ResLine>();
  const answers: Answer[] = [];
  const users: SignedUp[] = [];
  const signups: number[] = [];
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.ndjson')) : [];
  for (const file of files) {
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
      if (!line) continue;
      const event = JSON.parse(line) as BuyLine | ResLine | UserLine | SignupLine;
      if (event.k === 'buy') buys.set(event.id, event);
      else if (event.k === 'user') users.push({ userId: event.u, username: event.n });
      else if (event.k === 'signup') {
        if (event.s === 200) signups.push(event.ms);
      } else {
        results.set(event.id, event);
        answers.push({ name: event.n, status: event.s, at: event.t, ms: event.ms });
      }
    }
  }
  const attempts = [...buys.values()].map((buy): Attempt => {
    const res = results.get(buy.id);
    return {
      id: buy.id,
      userId: buy.u,
      productId: buy.p,
      quantity: buy.q,
      sentAt: res?.t ?? buy.t,
      status: res?.s ?? null,
      ...(res && { ms: res.ms }),
      ...(res?.pid && { purchaseId: res.pid }),
      ...(res?.c && { code: res.c }),
    };
  });
  return {
    attempts: attempts.sort((a, b) => a.sentAt - b.sentAt),
    answers: answers.sort((a, b) => a.at - b.at),
    users,
    signups,
  };
}
