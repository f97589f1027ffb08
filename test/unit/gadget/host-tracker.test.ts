import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostTracker } from '../../../bridge/gadget/host-tracker.ts';

const configured = (writeCounter: number | null) => ({ udcState: 'configured', writeCounter });
const tracker = () => new HostTracker({ idleAfterS: 5, writingWindowMs: 3000 });

test('connected follows the UDC state; connect and disconnect are announced once', () => {
  const h = tracker();
  let u = h.update({ udcState: 'not-attached', writeCounter: null }, 0);
  assert.deepEqual(u.events, []);
  assert.equal(u.state.host_connected, false);
  assert.equal(u.state.host_idle_s, null);
  u = h.update(configured(0), 1000);
  assert.deepEqual(u.events, ['host_connected']);
  assert.equal(u.changed, true);
  u = h.update(configured(0), 2000);
  assert.deepEqual(u.events, []);
  assert.equal(u.changed, false);
  assert.equal(u.state.host_idle_s, 1);
  u = h.update({ udcState: 'suspended', writeCounter: 0 }, 3000);
  assert.deepEqual(u.events, ['host_disconnected']);
  assert.equal(u.state.host_connected, false);
  assert.equal(u.state.host_writing, false);
});

test('writing while the counter moves, for the window after the last write; rate in bytes per second', () => {
  const h = tracker();
  h.update(configured(1000), 0);
  let u = h.update(configured(3000), 500);
  assert.equal(u.state.host_writing, true);
  assert.equal(u.state.write_rate_bps, 4000);
  assert.equal(u.state.host_idle_s, 0);
  assert.equal(u.changed, true);
  u = h.update(configured(3000), 3000);
  assert.equal(u.state.host_writing, true, 'still inside the 3 s window');
  assert.equal(u.state.write_rate_bps, 0);
  u = h.update(configured(3000), 3600);
  assert.equal(u.state.host_writing, false);
  assert.equal(u.changed, true);
  assert.equal(u.state.host_idle_s, 3);
});

test('host_idle fires once per quiet period, counted from the last write or the connection', () => {
  const h = tracker();
  assert.deepEqual(h.update(configured(0), 0).events, ['host_connected']);
  assert.deepEqual(h.update(configured(0), 4999).events, []);
  assert.deepEqual(h.update(configured(0), 5000).events, ['host_idle']);
  assert.deepEqual(h.update(configured(0), 9000).events, [], 'announced once');
  h.update(configured(10), 10_000); // writes again
  assert.deepEqual(h.update(configured(10), 14_000).events, []);
  assert.deepEqual(h.update(configured(10), 15_000).events, ['host_idle']);
});

test('a counter that goes backwards (a new file-storage thread) only sets the baseline', () => {
  const h = tracker();
  h.update(configured(5_000_000), 0);
  const u = h.update(configured(100), 1000);
  assert.equal(u.state.host_writing, false);
  assert.equal(u.state.write_rate_bps, 0);
  assert.equal(h.update(configured(300), 2000).state.host_writing, true);
});

test('writes while disconnected do not make the host writing', () => {
  const h = tracker();
  h.update({ udcState: 'not-attached', writeCounter: 0 }, 0);
  const u = h.update({ udcState: 'not-attached', writeCounter: 4096 }, 1000);
  assert.equal(u.state.host_writing, false);
  assert.equal(u.state.host_connected, false);
});
