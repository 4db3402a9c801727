/**
 * The abuse limits a flash sale needs, each a sliding window (ports.ts) keyed by what it limits:
 *
 * | limit                           | key                               | counts                              |
 * |---------------------------------|-----------------------------------|-------------------------------------|
 * | failed logins per username      | limits:login-user:{<name>}        | attempts, until one succeeds        |
 * | failed logins per address       | limits:login-addr:{<ip>}          | failures only                       |
 * | sign-ups per address            | limits:signup-addr:{<ip>}         | accounts created                    |
 * | purchases in flight per user    | limits:in-flight:{<user id>}      | purchases, until each finishes      |
 * | places in a product's lock line | limits:line:{<product id>}:<user> | one, until the purchase finishes    |
 *
 * A username's attempts are counted before bcrypt runs and forgotten when the login succeeds, so no
 * number of parallel guesses gets more than the limit through to bcrypt. An address counts failures
 * after the fact: successful logins from one address (a crowd behind one NAT, a load test on
 * 127.0.0.1) never count against it. Entries of in-flight purchases and line places expire by
 * themselves after `inFlightTtlMs`, so a function that dies mid-purchase frees its slot.
 */
import { randomBytes } from 'node:crypto';
import { type LimitName, TooManyRequestsError } from './errors.ts';
import type { AdmitResult, Windows } from './ports.ts';

export interface LoginLimits {
  /** Failed logins per username in a window; 0 turns the limit off. */
  readonly failuresPerUsername: number;
  /** Failed logins per client address in a window; 0 turns the limit off. */
  readonly failuresPerAddress: number;
  readonly windowMs: number;
}

export interface SignupLimits {
  /** Sign-ups per client address in a window; 0 (the local default) turns the limit off. */
  readonly perAddress: number;
  readonly windowMs: number;
}

export interface PurchaseLimits {
  /** Purchases one user may have in flight at once; 0 turns the limit off. */
  readonly inFlightPerUser: number;
  /** Longer than a purchase can run (the function timeout), so only a dead request's slot expires. */
  readonly inFlightTtlMs: number;
}

const newEntry = () => randomBytes(9).toString('base64url');

function refuse(limit: LimitName, result: AdmitResult): void {
  if (!result.admitted)
    throw new TooManyRequestsError(limit, Math.max(1, Math.ceil(result.retryAfterMs / 1000)));
}

/** One login attempt in progress: say how it ended. */
export interface LoginAttempt {
  succeeded(): Promise<void>;
  failed(): Promise<void>;
}

export class LoginGuard {
  constructor(
    private readonly windows: Windows,
    private readonly limits: LoginLimits,
  ) {}

  /** Throws TooManyRequestsError when the username or the address is over its limit. */
  async begin(username: string, address: string | undefined): Promise<LoginAttempt> {
    const { windows, limits } = this;
    const entry = newEntry();
    const userKey = `limits:login-user:{${username.toLowerCase()}}`;
    const addressKey = address && `limits:login-addr:{${address}}`;
    const window = { windowMs: limits.windowMs };
    // The address first, only checked: a refused address must not use up the username's attempts.
    if (addressKey && limits.failuresPerAddress > 0) {
      refuse(
        'login-address',
        await windows.admit(addressKey, entry, { ...window, max: limits.failuresPerAddress, record: false }),
      );
    }
    const userCounted = limits.failuresPerUsername > 0;
    if (userCounted) {
      refuse(
        'login-username',
        await windows.admit(userKey, entry, { ...window, max: limits.failuresPerUsername, record: true }),
      );
    }
    return {
      succeeded: async () => {
        if (userCounted) await windows.forget(userKey, entry);
      },
      failed: async () => {
        if (addressKey && limits.failuresPerAddress > 0)
          await windows.record(addressKey, entry, limits.windowMs);
      },
    };
  }
}

/** One sign-up in progress: it counts unless no account came of it. */
export interface SignupAttempt {
  abandoned(): Promise<void>;
}

export class SignupGuard {
  constructor(
    private readonly windows: Windows,
    private readonly limits: SignupLimits,
  ) {}

  async begin(address: string | undefined): Promise<SignupAttempt> {
    if (!address || this.limits.perAddress === 0) return { abandoned: async () => undefined };
    const key = `limits:signup-addr:{${address}}`;
    const entry = newEntry();
    refuse(
      'signup-address',
      await this.windows.admit(key, entry, {
        windowMs: this.limits.windowMs,
        max: this.limits.perAddress,
        record: true,
      }),
    );
    return { abandoned: () => this.windows.forget(key, entry) };
  }
}

/** Frees what a purchase took; safe to call once the purchase has ended, whatever its outcome. */
export type Leave = () => Promise<void>;

export class PurchaseGuard {
  constructor(
    private readonly windows: Windows,
    private readonly limits: PurchaseLimits,
  ) {}

  /** Takes one of the user's in-flight slots, or throws TooManyRequestsError. */
  async enter(userId: number, purchaseId: string): Promise<Leave> {
    if (this.limits.inFlightPerUser === 0) return async () => undefined;
    const key = `limits:in-flight:{${userId}}`;
    refuse(
      'purchases-in-flight',
      await this.windows.admit(key, purchaseId, {
        windowMs: this.limits.inFlightTtlMs,
        max: this.limits.inFlightPerUser,
        record: true,
      }),
    );
    return () => this.windows.forget(key, purchaseId);
  }

  /**
   * One place per user in each product's lock line: a user whose other purchase of the product still
   * waits for (or holds) its lock is refused instead of taking a second place. Products in ascending
   * id, as the locks; a refusal gives back the places already taken.
   */
  async joinLines(userId: number, productIds: readonly number[], purchaseId: string): Promise<Leave> {
    const taken: string[] = [];
    const leave = async () => {
      await Promise.all(taken.map((key) => this.windows.forget(key, purchaseId)));
    };
    try {
      for (const productId of [...productIds].sort((a, b) => a - b)) {
        const key = `limits:line:{${productId}}:${userId}`;
        refuse(
          'lock-line',
          await this.windows.admit(key, purchaseId, {
            windowMs: this.limits.inFlightTtlMs,
            max: 1,
            record: true,
          }),
        );
        taken.push(key);
      }
    } catch (error) {
      await leave().catch(() => undefined);
      throw error;
    }
    return leave;
  }
}
