/**
 * Lazy, memoized providers: the unit of per-function composition. A provider names what it needs
 * (tables, Redis, the signing key), builds its service on first use (the Lambda cold start's first
 * request), and keeps it for the life of the process. A failed build is not kept: a Redis outage at
 * the first request must not poison every later one.
 *
 * `endpoint()` (shared/http) checks at module load that everything a handler asks for is within what
 * its route declares in shared/routes.ts, so a function can neither use nor be granted more.
 */
import type { JwtUse, TableName } from '../config.ts';

export interface Needs {
  readonly tables: readonly TableName[];
  readonly redis: boolean;
  /** The token key: `sign` (private) or `verify` (public keys); no function needs both. */
  readonly jwt: JwtUse;
}

export interface Provider<T> {
  readonly name: string;
  /** Everything this provider and the providers it builds on need. */
  readonly needs: Needs;
  get(): Promise<T>;
}

type NeedsInput = Partial<Needs>;

const builtNames = new Set<string>();

/** The providers this process has built so far (for tests that prove a path builds nothing). */
export function builtProviders(): string[] {
  return [...builtNames];
}

export function mergeNeeds(...all: readonly NeedsInput[]): Needs {
  const jwt = new Set(all.map((n) => n.jwt).filter((use) => use === 'sign' || use === 'verify'));
  if (jwt.size > 1)
    throw new Error('A provider needs either the signing key or the verification keys, not both');
  return {
    tables: [...new Set(all.flatMap((n) => n.tables ?? []))].sort(),
    redis: all.some((n) => n.redis === true),
    jwt: [...jwt][0] ?? false,
  };
}

/**
 * A provider of `build()`'s result. `uses` lists the providers it builds on (their needs are added
 * to its own), so a provider's needs are the whole of what it reaches.
 */
export function provider<T>(
  name: string,
  own: NeedsInput,
  uses: readonly Provider<unknown>[],
  build: () => Promise<T> | T,
): Provider<T> {
  let value: Promise<T> | undefined;
  return {
    name,
    needs: mergeNeeds(own, ...uses.map((p) => p.needs)),
    get() {
      builtNames.add(name);
      value ??= Promise.resolve()
        .then(build)
        .catch((error) => {
          value = undefined;
          throw error;
        });
      return value;
    },
  };
}

/** What `needs` asks for beyond `allowed` (a route's `uses`); empty when it stays within. */
export function needsBeyond(
  needs: Needs,
  allowed: { tables: Partial<Record<TableName, unknown>>; redis: boolean; jwt: JwtUse },
): string[] {
  const beyond: string[] = needs.tables.filter((t) => !(t in allowed.tables)).map((t) => `table ${t}`);
  if (needs.redis && !allowed.redis) beyond.push('redis');
  if (needs.jwt && needs.jwt !== allowed.jwt) beyond.push(`jwt ${needs.jwt}`);
  return beyond;
}
