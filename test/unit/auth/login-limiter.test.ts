import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LoginLimiter } from '../../../bridge/auth/login-limiter.ts';
import { PiDriveError } from '../../../bridge/core/errors.ts';
import { manualClock } from './clock.ts';

const locked = (fn: () => void): boolean => {
  try {
    fn();
    return false;
  } catch (err) {
    assert.ok(err instanceof PiDriveError && err.code === 'rate_limited');
    return true;
  }
};

test('a key locks after maxFailures failures and unlocks after the lockout', () => {
  const clock = manualClock();
  const limiter = new LoginLimiter(clock, { maxFailures: 3, lockoutMs: 60_000 });
  for (let i = 0; i < 2; i++) limiter.fail(['account:a']);
  assert.equal(locked(() => limiter.check(['account:a'])), false);
  limiter.fail(['account:a']);
  assert.equal(locked(() => limiter.check(['account:a'])), true);
  assert.equal(locked(() => limiter.check(['account:b'])), false, 'other keys are not affected');
  clock.advance(59_000);
  assert.equal(locked(() => limiter.check(['account:a'])), true);
  clock.advance(2_000);
  assert.equal(locked(() => limiter.check(['account:a'])), false);
});

test('failures older than the window are forgotten; success clears the key', () => {
  const clock = manualClock();
  const limiter = new LoginLimiter(clock, { maxFailures: 3, lockoutMs: 60_000 });
  limiter.fail(['k']);
  limiter.fail(['k']);
  clock.advance(61_000);
  limiter.fail(['k']);
  assert.equal(locked(() => limiter.check(['k'])), false);
  limiter.fail(['k']);
  limiter.succeed('k');
  limiter.fail(['k']);
  assert.equal(locked(() => limiter.check(['k'])), false);
});

test('any locked key of several refuses (account or address)', () => {
  const limiter = new LoginLimiter(manualClock(), { maxFailures: 2, lockoutMs: 60_000 });
  limiter.fail(['account:x', 'address:1.2.3.4']);
  limiter.fail(['account:y', 'address:1.2.3.4']);
  assert.equal(locked(() => limiter.check(['account:z', 'address:1.2.3.4'])), true);
  assert.equal(locked(() => limiter.check(['account:x', 'address:5.6.7.8'])), false);
});

test('memory stays bounded under a flood of distinct keys', () => {
  const limiter = new LoginLimiter(manualClock(), { maxFailures: 5, lockoutMs: 60_000 });
  for (let i = 0; i < 25_000; i++) limiter.fail([`address:${i}`]);
  // The newest keys are still counted after the oldest were evicted.
  for (let i = 0; i < 4; i++) limiter.fail(['address:24999']);
  assert.equal(locked(() => limiter.check(['address:24999'])), true);
});
