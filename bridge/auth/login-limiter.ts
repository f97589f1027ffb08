import type { Clock } from '../core/clock.ts';
import { PiDriveError } from '../core/errors.ts';

export interface LimiterPolicy {
  maxFailures: number;
  lockoutMs: number;
}

interface Entry {
  failures: number[];
  lockedUntil: number;
  /** Attempts begun and not yet ended: they count before their outcome is known. */
  pending: number;
}

/** Bounds memory under a flood of distinct names or addresses; the oldest entries go first. */
const MAX_ENTRIES = 10_000;

/**
 * Counts failed logins per account and per address (in memory: a restart forgives, which is fine
 * against online guessing). `maxFailures` failures within the lockout window lock the key for the
 * lockout time. Attempts still being checked count as failures until they end, so parallel guesses
 * cannot all slip in before the first one fails. Unknown account names are counted exactly like
 * real ones, so a lockout reveals nothing.
 */
export class LoginLimiter {
  readonly #clock: Clock;
  readonly #policy: LimiterPolicy;
  readonly #entries = new Map<string, Entry>();

  constructor(clock: Clock, policy: LimiterPolicy) {
    this.#clock = clock;
    this.#policy = policy;
  }

  /** Starts an attempt (end it with fail() or succeed()); throws rate_limited when any key is locked or saturated. */
  begin(keys: readonly string[]): void {
    const now = this.#clock.monotonicMs();
    for (const key of keys) {
      const entry = this.#entries.get(key);
      if (!entry) continue;
      if (entry.lockedUntil > now) {
        const minutes = Math.ceil((entry.lockedUntil - now) / 60_000);
        throw new PiDriveError('rate_limited', `too many failed attempts; try again in ${minutes} minute${minutes === 1 ? '' : 's'}`);
      }
      if (this.#recent(entry, now) + entry.pending >= this.#policy.maxFailures) {
        throw new PiDriveError('rate_limited', 'too many attempts at once; try again in a moment');
      }
    }
    for (const key of keys) this.#entry(key).pending++;
  }

  fail(keys: readonly string[]): void {
    const now = this.#clock.monotonicMs();
    for (const key of keys) {
      const entry = this.#entry(key);
      entry.pending = Math.max(0, entry.pending - 1);
      entry.failures = entry.failures.filter((t) => now - t < this.#policy.lockoutMs);
      entry.failures.push(now);
      if (entry.failures.length >= this.#policy.maxFailures) {
        entry.lockedUntil = now + this.#policy.lockoutMs;
        entry.failures = [];
      }
    }
  }

  /** Ends an attempt that succeeded; the failures of `forgive` (the account) are forgotten. */
  succeed(keys: readonly string[], forgive: string): void {
    for (const key of keys) {
      const entry = this.#entry(key);
      entry.pending = Math.max(0, entry.pending - 1);
      if (key === forgive) entry.failures = [];
    }
  }

  #recent(entry: Entry, now: number): number {
    return entry.failures.filter((t) => now - t < this.#policy.lockoutMs).length;
  }

  /** The key's entry, moved to the newest end of the eviction order. */
  #entry(key: string): Entry {
    const entry = this.#entries.get(key) ?? { failures: [], lockedUntil: 0, pending: 0 };
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    while (this.#entries.size > MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
    return entry;
  }
}
