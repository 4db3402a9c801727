/**
 * The scripted mutants of the core: each one a small, plausible bug (a file, an exact snippet, its
 * replacement) and the tests expected to catch it. `npm run test:mutation` applies each to a copy of
 * the repository and fails if any mutant survives; docs/testing-mutants.md lists them and what killed
 * them.
 *
 * Paths under shared/ move during the restructure: update `file` (and, if the code was rewritten,
 * `find`) here, in this one place. The runner refuses to run while any `find` is not in its file
 * exactly once, so a moved or edited snippet fails loudly instead of being skipped.
 */

export interface Mutant {
  readonly id: string;
  /** The property the mutant breaks. */
  readonly breaks: string;
  /** Relative to the repository root. */
  readonly file: string;
  /** Must occur exactly once in `file`. */
  readonly find: string;
  readonly replace: string;
  /** The vitest project and the test files expected to kill it; `testNamePattern` narrows them. */
  readonly project: 'unit' | 'integration';
  readonly tests: readonly string[];
  readonly testNamePattern?: string;
  /** Part of the short run that `npm test` does. */
  readonly short?: boolean;
}

export const mutants: readonly Mutant[] = [
  {
    id: 'reserve-no-stock-check',
    breaks: 'Redis never refuses more than is available (the reserve Lua)',
    file: 'shared/stock/scripts.ts',
    find: 'if available < qty then return {0, available} end',
    replace: 'if available < 0 then return {0, available} end',
    project: 'integration',
    tests: ['tests/integration/stock.test.ts'],
    short: true,
  },
  {
    id: 'reserve-skips-hold-check',
    breaks: 'one purchase id holds stock at most once (a retry cannot take units twice)',
    file: 'shared/stock/scripts.ts',
    // A resent reserve (its reply lost) finds its own hold: success, units taken once.
    find: 'if held then return {1, available, shards_of_hold(held)} end\n',
    replace: '',
    project: 'integration',
    tests: ['tests/integration/stock.test.ts'],
  },
  {
    id: 'reserve-many-off-by-one',
    breaks: 'a cart is refused when any line is short (the one-script cart reserve)',
    file: 'shared/stock/scripts.ts',
    find: 'if tonumber(available) < tonumber(ARGV[i + 1]) then',
    replace: 'if tonumber(available) < tonumber(ARGV[i + 1]) - 1 then',
    project: 'integration',
    tests: ['tests/integration/bundles.test.ts'],
    testNamePattern: 'releases the lines already held',
  },
  {
    id: 'release-not-once',
    breaks: 'a hold returns its units at most once',
    file: 'shared/stock/scripts.ts',
    find: "redis.call('HDEL', KEYS[2], ARGV[1])\nif redis.call('EXISTS', KEYS[1]) == 0 then return 2 end",
    replace: "if redis.call('EXISTS', KEYS[1]) == 0 then return 2 end",
    project: 'integration',
    tests: ['tests/integration/stock.test.ts'],
  },
  {
    id: 'cart-no-compensation',
    breaks: 'on Redis Cluster terms a cart short on a later line gives back the lines it took',
    file: 'shared/stock/redis-stock.ts',
    find: "      await this.releaseAll(taken, holdId);\n      if (result.status === 'insufficient') {",
    replace: "      if (result.status === 'insufficient') {",
    project: 'integration',
    tests: ['tests/integration/bundles.test.ts'],
    testNamePattern: 'releases the lines already held|gives back the lines',
    short: true,
  },
  {
    id: 'durable-condition-off-by-one',
    breaks: 'DynamoDB sells the last unit (stock >= quantity, not >)',
    file: 'shared/db/purchases.ts',
    find: "        'stock >= :q',\n",
    replace: "        'stock > :q',\n",
    project: 'integration',
    tests: ['tests/integration/failures.test.ts'],
    testNamePattern: 'a sold-out product',
  },
  {
    id: 'durable-condition-dropped',
    breaks: 'DynamoDB is the final word: it refuses what a drifted or restored Redis allows',
    file: 'shared/db/purchases.ts',
    find: "        'stock >= :q',\n",
    replace: '',
    project: 'integration',
    tests: ['tests/integration/failures.test.ts'],
    testNamePattern: 'drifted Redis|while purchases are in flight',
  },
  {
    id: 'applied-write-released',
    breaks: 'a write that DynamoDB applied but whose answer was lost is a sale, not a release',
    file: 'shared/stock/settlement.ts',
    find: '    if (existing) {\n      await commitHolds(deps, lines, purchase.id);\n      return existing;\n    }\n',
    replace: '',
    project: 'integration',
    tests: ['tests/integration/failures.test.ts'],
    testNamePattern: 'answer of an applied write was lost',
  },
  {
    id: 'waiters-ignore-sold-out',
    breaks: 'buyers waiting for a lock stop as soon as the stock runs out',
    file: 'shared/stock/purchases.ts',
    find: '          if (shortages.length > 0) throw InsufficientStockError.of(shortages);\n',
    replace: '',
    project: 'integration',
    tests: ['tests/integration/failures.test.ts'],
    testNamePattern: 'stops lock waiters',
  },
  {
    id: 'withlocks-keeps-locks-on-failure',
    breaks: 'withLocks releases what it took when the section throws or a later lock is busy',
    file: 'shared/lock/redis-lock.ts',
    find: '  } catch (error) {\n    await releaseAll();\n    throw error;\n  }',
    replace: '  } catch (error) {\n    throw error;\n  }',
    project: 'integration',
    tests: ['tests/integration/lock.test.ts'],
    short: true,
  },
  {
    id: 'lock-not-fifo',
    breaks: 'a free lock goes to the head of the line, not to whoever asks first',
    file: 'shared/lock/scripts.ts',
    find: 'if free and (not head or head == token) then',
    replace: 'if free then',
    project: 'integration',
    tests: ['tests/integration/lock.test.ts'],
    testNamePattern: 'first-come-first-served',
  },
  {
    id: 'lock-release-wakes-nobody',
    breaks: 'a release wakes the head of the line, so the hand-over does not wait for a timeout',
    file: 'shared/lock/scripts.ts',
    find: 'if head then wake(KEYS[4], head, ARGV[2]) end\nreturn 1`',
    replace: 'return 1`',
    project: 'integration',
    tests: ['tests/integration/lock.test.ts'],
    testNamePattern: 'hand-over without polling',
  },
  {
    id: 'locks-in-caller-order',
    breaks: 'locks are taken in one global order, so [A, B] and [B, A] cannot deadlock',
    file: 'shared/lock/redis-lock.ts',
    find: "return [...new Set(resources)].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));",
    replace: 'return [...new Set(resources)];',
    project: 'integration',
    tests: ['tests/integration/bundles.test.ts'],
    testNamePattern: 'without deadlock: every section',
  },
  {
    id: 'reconciler-commit-release-swapped',
    breaks: 'a stale hold is committed when its purchase is durable and released when it is not',
    file: 'shared/stock/reconciler.ts',
    find: '      if (landed) {\n',
    replace: '      if (!landed) {\n',
    project: 'integration',
    tests: ['tests/integration/failures.test.ts'],
    testNamePattern: 'reconciler',
  },
  {
    id: 'reconciler-ignores-hold-age',
    breaks: 'the reconciler leaves young holds alone (their request may still be running)',
    file: 'shared/stock/reconciler.ts',
    find: '      if (hold.ageMs < this.deps.holdStaleAfterMs) continue;\n',
    replace: '',
    project: 'integration',
    tests: ['tests/integration/failures.test.ts'],
    testNamePattern: 'between the Redis decrement and the DynamoDB write',
  },
  {
    id: 'deal-cap-off-by-one',
    // Redis's count is the fast check; DynamoDB's buyer item is the cap that holds when Redis forgets.
    breaks: 'a buyer capped at N holds at most N units of a hot deal, even after Redis lost the count',
    file: 'shared/db/orders.ts',
    find: "':room': maxPerUser - order.quantity }",
    replace: "':room': maxPerUser - order.quantity + 1 }",
    project: 'integration',
    tests: ['tests/integration/deal-failover.test.ts'],
    testNamePattern: 'failover that loses the last reservations',
  },
  {
    id: 'plain-cap-off-by-one',
    // The buyer's count item is the only gate of a product's per-buyer cap: nothing in Redis backs it.
    breaks:
      "a buyer holds at most a product's max_per_user units over their plain purchases, however they race",
    file: 'shared/db/purchases.ts',
    find: 'const room = cap - line.quantity;',
    replace: 'const room = cap - line.quantity + 1;',
    project: 'integration',
    tests: ['tests/integration/purchase-cap.test.ts'],
    testNamePattern: 'racing one-unit purchases',
  },
  {
    id: 'fence-condition-dropped',
    breaks: 'a holder paused past its TTL writes after a newer holder (the durable write ignores the fence)',
    file: 'shared/db/purchases.ts',
    find: "        ...(fence === undefined ? [] : ['(attribute_not_exists(lock_fence) OR lock_fence <= :f)']),\n",
    replace: '',
    project: 'integration',
    tests: ['tests/integration/fencing.test.ts'],
    testNamePattern: 'cannot write after a newer holder',
  },
  {
    id: 'redlock-quorum-of-one',
    breaks: 'Redlock grants on any single node: the minority side of a partition gets the lock',
    file: 'shared/lock/redlock.ts',
    find: 'this.quorum = quorumOf(nodes.length);',
    replace: 'this.quorum = 1;',
    project: 'integration',
    tests: ['tests/integration/redlock.test.ts'],
    testNamePattern: 'majority side',
  },
  {
    id: 'redlock-fence-not-confirmed',
    breaks: 'fences go backwards when the next grant wins a different majority',
    file: 'shared/lock/redlock.ts',
    find: 'atFence >= this.quorum\n',
    replace: 'true\n',
    project: 'integration',
    tests: ['tests/integration/redlock.test.ts'],
    testNamePattern: 'different majority',
  },
  {
    id: 'limit-window-off-by-one',
    breaks: 'a sliding-window limit of N admits at most N (purchases in flight, failed logins, sign-ups)',
    file: 'shared/limits/scripts.ts',
    find: "if max > 0 and redis.call('ZCARD', KEYS[1]) >= max then",
    replace: "if max > 0 and redis.call('ZCARD', KEYS[1]) > max then",
    project: 'integration',
    tests: ['tests/integration/security-matrix.test.ts'],
    testNamePattern: 'API2|API4',
  },
  {
    id: 'login-forgets-failures',
    breaks: 'a failed login counts against the username until the window ends',
    file: 'shared/auth/accounts.ts',
    find: '      await attempt?.failed();\n',
    replace: '      await attempt?.failed();\n      await attempt?.succeeded();\n',
    project: 'integration',
    tests: ['tests/integration/security-matrix.test.ts'],
    testNamePattern: 'parallel wrong guesses',
  },
  {
    id: 'answer-before-commit',
    breaks: "a bought unit's 200 waits for its holds' commit (sent with the slot's release, not dropped)",
    file: 'shared/stock/purchases.ts',
    find: 'await Promise.all([...commits, ...leave.map((free) => free().catch(() => undefined))]);',
    replace: 'await Promise.all(leave.map((free) => free().catch(() => undefined)));',
    project: 'integration',
    tests: ['tests/integration/failures.test.ts'],
    testNamePattern: 'last round trip',
  },
  {
    id: 'commit-inside-lock',
    breaks: "the holds' commit leaves the lock's critical section (it travels with the release)",
    file: 'shared/stock/settlement.ts',
    find: '    if (commits) commits.push(committed);\n    else await committed;\n',
    replace: '    await committed;\n',
    project: 'integration',
    tests: ['tests/integration/failures.test.ts'],
    testNamePattern: 'last round trip',
  },
];
