import type { Clock } from '../core/clock.ts';
import { PiDriveError } from '../core/errors.ts';

export interface LimiterPolicy {
  maxFailures: number;
  lockoutMs: number;
}

interface Entry {
  failures: number[];
  lockedUntil: number;
}

/** Bounds memory under a flood of distinct names or addresses; the oldest entries go first. */
const MAX_ENTRIES = 10_000;

/**
 * Counts failed logins per account and per address (in memory: a restart forgives, which is fine
 * against online guessing). `maxFailures` failures within the lockout window lock the key for the
 * lockout time. Unknown account names are counted exactly like real ones, so a lockout reveals nothing.
 */
export class LoginLimiter {
  readonly #clock: Clock;
  readonly #policy: LimiterPolicy;
  readonly #entries = new Map<string, Entry>();

  constructor(clock: Clock, policy: LimiterPolicy) {
    this.#clock = clock;
    this.#policy = policy;
  }

  /** Throws rate_limited when any key is locked. */
  check(keys: readonly string[]): void {
    const now = this.#clock.monotonicMs();
    for (const key of keys) {
      const entry = this.#entries.get(key);
      if (entry && entry.lockedUntil > now) {
        const minutes = Math.ceil((entry.lockedUntil - now) / 60_000);
        throw new PiDriveError('rate_limited', `too many failed attempts; try again in ${minutes} minute${minutes === 1 ? '' : 's'}`);
      }
    }
  }

  fail(keys: readonly string[]): void {
    const now = this.#clock.monotonicMs();
    for (const key of keys) {
      const entry = this.#entries.get(key) ?? { failures: [], lockedUntil: 0 };
      this.#entries.delete(key);
      entry.failures = entry.failures.filter((t) => now - t < this.#policy.lockoutMs);
      entry.failures.push(now);
      if (entry.failures.length >= this.#policy.maxFailures) {
        entry.lockedUntil = now + this.#policy.lockoutMs;
        entry.failures = [];
      }
      this.#entries.set(key, entry);
    }
    while (this.#entries.size > MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
  }

  succeed(key: string): void {
    this.#entries.delete(key);
  }
}
