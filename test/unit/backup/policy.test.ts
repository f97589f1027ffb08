import assert from 'node:assert/strict';
import { test } from 'node:test';
import { changeSignal } from '../../../bridge/backup/change-signal.ts';
import { isoWeek, selectKept } from '../../../bridge/backup/retention.ts';

const snaps = (times: string[]) => times.map((time, i) => ({ id: `s${i}`, time }));

test('keep last N keeps the newest N', () => {
  const s = snaps(['2025-01-01T00:00:00Z', '2025-01-02T00:00:00Z', '2025-01-03T00:00:00Z']);
  assert.deepEqual([...selectKept(s, { last: 2 })].sort(), ['s1', 's2']);
});

test('daily keeps the newest snapshot of each of the newest N days; weekly follows ISO weeks', () => {
  const s = snaps([
    '2025-01-06T08:00:00Z', // Monday, week 2
    '2025-01-06T20:00:00Z',
    '2025-01-07T09:00:00Z',
    '2025-01-12T23:00:00Z', // Sunday, still week 2
    '2025-01-13T01:00:00Z', // Monday, week 3
  ]);
  assert.deepEqual([...selectKept(s, { daily: 3 })].sort(), ['s2', 's3', 's4']);
  assert.deepEqual([...selectKept(s, { weekly: 2 })].sort(), ['s3', 's4']);
  assert.deepEqual([...selectKept(s, { monthly: 5 })].sort(), ['s4']);
  assert.deepEqual([...selectKept(s, { last: 1, hourly: 2 })].sort(), ['s3', 's4']);
});

test('periods are taken in the given time zone', () => {
  // 23:30 UTC on Jan 1 is already Jan 2 in Berlin: one day there, two days in UTC.
  const s = snaps(['2025-01-01T23:30:00Z', '2025-01-02T10:00:00Z']);
  assert.equal(selectKept(s, { daily: 5 }, 'UTC').size, 2);
  assert.deepEqual([...selectKept(s, { daily: 5 }, 'Europe/Berlin')], ['s1']);
});

test('a policy without a positive count keeps everything', () => {
  const s = snaps(['2025-01-01T00:00:00Z', '2025-01-02T00:00:00Z']);
  assert.equal(selectKept(s, {}).size, 2);
  assert.equal(selectKept(s, { last: 0, daily: 0 }).size, 2);
});

test('ISO weeks at year boundaries', () => {
  assert.equal(isoWeek(2024, 12, 30), '2025-W01');
  assert.equal(isoWeek(2021, 1, 3), '2020-W53');
  assert.equal(isoWeek(2025, 6, 15), '2025-W24');
});

test('change signal: a crossing from a low baseline raises suspicious_change; a steady high share does not', () => {
  const base = { threshold: 0.5, minBlocks: 10 };
  const first = changeSignal({ ...base, changedBlocks: 100, incompressibleChanged: 10, parent: null });
  assert.equal(first.incompressible_ratio, 0.1);
  assert.equal(first.baseline_ratio, null);
  assert.equal(first.suspicious_change, false, 'no history, no alarm');
  const parent = { changed_blocks: 100, incompressible_ratio: 0.1, baseline_ratio: null };
  assert.equal(changeSignal({ ...base, changedBlocks: 50, incompressibleChanged: 45, parent }).suspicious_change, true);
  assert.equal(changeSignal({ ...base, changedBlocks: 5, incompressibleChanged: 5, parent }).suspicious_change, false, 'too few blocks to mean something');
  const video = { changed_blocks: 80, incompressible_ratio: 0.98, baseline_ratio: 0.97 };
  assert.equal(changeSignal({ ...base, changedBlocks: 90, incompressibleChanged: 90, parent: video }).suspicious_change, false);
  // A quiet snapshot in between carries the baseline forward.
  const quiet = { changed_blocks: 2, incompressible_ratio: 1, baseline_ratio: 0.1 };
  const after = changeSignal({ ...base, changedBlocks: 40, incompressibleChanged: 40, parent: quiet });
  assert.equal(after.baseline_ratio, 0.1);
  assert.equal(after.suspicious_change, true);
  assert.equal(changeSignal({ ...base, changedBlocks: 0, incompressibleChanged: 0, parent }).incompressible_ratio, 0);
});
