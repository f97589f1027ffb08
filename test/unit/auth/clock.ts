import type { Clock } from '../../../bridge/core/clock.ts';

/** A Clock the test moves by hand (expiries and lockouts without sleeping). */
export function manualClock(start = Date.parse('2025-06-01T12:00:00Z')): Clock & { advance(ms: number): void } {
  let now = start;
  return {
    now: () => new Date(now),
    monotonicMs: () => now,
    setTimeout: () => ({ cancel: () => {} }),
    advance: (ms: number) => {
      now += ms;
    },
  };
}
