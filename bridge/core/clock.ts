/** Time as an interface, so schedules, expiries and idle timers can be tested without sleeping. */
export interface Clock {
  now(): Date;
  /** Monotonic milliseconds, for durations and rates. */
  monotonicMs(): number;
  setTimeout(fn: () => void, ms: number): { cancel(): void };
}

export const systemClock: Clock = {
  now: () => new Date(),
  monotonicMs: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
};
