import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LoginLimiter } from '../../../bridge/auth/login-limiter.ts';
import { PiDriveError } from '../../../bridge/core/errors.ts';
import { manualClock } from './clock.ts';

/** Whether an attempt on `keys` is refused; an admitted attempt is ended as `end` says. */
function refused(limiter: LoginLimiter, keys: string[], end: 'fail' | 'succeed' = 'fail'): boolean {
  try {
    limiter.begin(keys);
  } catch (err) {
    assert.ok(err instanceof PiDriveError && err.code === 'rate_limited');
    return true;
  }
  if (end === 'fail') limiter.fail(keys);
  else limiter.succeed(keys, keys[0]!);
  return false;
}

test('a key locks after maxFailures failures and unlocks after the lockout', () => {
  const clock = manualClock();
  const limiter = new LoginLimiter(clock, { maxFailures: 3, lockoutMs: 60_000 });
  assert.equal(refused(limiter, ['account:a']), false);
  assert.equal(refused(limiter, ['account:a']), false);
  assert.equal(refused(limiter, ['account:a']), false, 'the third failure is admitted, and locks');
  assert.equal(refused(limiter, ['account:a']), true);
  assert.equal(refused(limiter, ['account:b'], 'succeed'), false, 'other keys are not affected');
  clock.advance(59_000);
  assert.equal(refused(limiter, ['account:a']), true);
  clock.advance(2_000);
  assert.equal(refused(limiter, ['account:a'], 'succeed'), false);
});

test('failures older than the window are forgotten; success forgives the account', () => {
  const clock = manualClock();
  const limiter = new LoginLimiter(clock, { maxFailures: 3, lockoutMs: 60_000 });
  refused(limiter, ['k']);
  refused(limiter, ['k']);
  clock.advance(61_000);
  refused(limiter, ['k']);
  refused(limiter, ['k']);
  assert.equal(refused(limiter, ['k'], 'succeed'), false);
  refused(limiter, ['k']);
  refused(limiter, ['k']);
  assert.equal(refused(limiter, ['k'], 'succeed'), false, 'two failures since the success: not locked');
});

test('attempts in flight count: parallel guesses cannot all be checked before the first fails', () => {
  const limiter = new LoginLimiter(manualClock(), { maxFailures: 3, lockoutMs: 60_000 });
  const keys = ['account:c', 'address:9.9.9.9'];
  for (let i = 0; i < 3; i++) limiter.begin(keys);
  assert.throws(() => limiter.begin(keys), (err: unknown) => err instanceof PiDriveError && err.code === 'rate_limited');
  for (let i = 0; i < 3; i++) limiter.fail(keys);
  assert.equal(refused(limiter, keys), true, 'the three in flight failed: locked');
});

test('any locked key of several refuses (account or address)', () => {
  const limiter = new LoginLimiter(manualClock(), { maxFailures: 2, lockoutMs: 60_000 });
  refused(limiter, ['account:x', 'address:1.2.3.4']);
  refused(limiter, ['account:y', 'address:1.2.3.4']);
  assert.equal(refused(limiter, ['account:z', 'address:1.2.3.4']), true);
  assert.equal(refused(limiter, ['account:x', 'address:5.6.7.8']), false);
});

test('memory stays bounded under a flood of distinct keys', () => {
  const limiter = new LoginLimiter(manualClock(), { maxFailures: 5, lockoutMs: 60_000 });
  for (let i = 0; i < 25_000; i++) refused(limiter, [`address:${i}`]);
  // The newest keys are still counted after the oldest were evicted.
  for (let i = 0; i < 4; i++) refused(limiter, ['address:24999']);
  assert.equal(refused(limiter, ['address:24999']), true);
});
