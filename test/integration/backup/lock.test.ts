import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { FolderStore } from '../../../bridge/backup/folder-store.ts';
import { RepoLock, STALE_MS } from '../../../bridge/backup/lock.ts';
import { tempDir } from '../../helpers/tools.ts';

function lockObject(fields: Partial<Record<string, unknown>>): Buffer {
  const now = new Date().toISOString();
  return Buffer.from(JSON.stringify({ id: 'x', exclusive: true, operation: 'prune (garbage collection)', host: os.hostname(), pid: process.pid, created: now, refreshed: now, ...fields }));
}

test('shared locks coexist; the exclusive lock waits for them and names the holder when it gives up', async (t) => {
  const store = new FolderStore(path.join(tempDir(t), 'repo'));
  const a = await RepoLock.acquire(store, { exclusive: false, operation: 'backup of cam', waitMs: 0 });
  const b = await RepoLock.acquire(store, { exclusive: false, operation: 'backup of dash', waitMs: 0 });
  await assert.rejects(RepoLock.acquire(store, { exclusive: true, operation: 'prune', waitMs: 0 }), /locked by backup of (cam|dash) \(shared\)/);
  await a.release();
  const waiting = RepoLock.acquire(store, { exclusive: true, operation: 'prune', waitMs: 10_000 });
  setTimeout(() => void b.release(), 300);
  const x = await waiting;
  await assert.rejects(RepoLock.acquire(store, { exclusive: false, operation: 'backup of cam', waitMs: 0 }), /locked by prune \(exclusive\)/);
  await x.release();
  const after = await RepoLock.acquire(store, { exclusive: true, operation: 'prune', waitMs: 0 });
  await after.release();
});

test('stale locks are removed: a dead process on this host at once, another host after STALE_MS without refresh', async (t) => {
  const store = new FolderStore(path.join(tempDir(t), 'repo'));
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  await store.put('locks/dead.json', lockObject({ id: 'dead', pid: Number(dead.stdout) }));
  const lock = await RepoLock.acquire(store, { exclusive: true, operation: 'prune', waitMs: 0 });
  assert.equal(await store.head('locks/dead.json'), null);
  await lock.release();

  const old = new Date(Date.now() - STALE_MS - 60_000).toISOString();
  await store.put('locks/far.json', lockObject({ id: 'far', host: 'another-pi', pid: 1, created: old, refreshed: old }));
  await store.put('locks/fresh.json', lockObject({ id: 'fresh', host: 'another-pi', pid: 1 }));
  await assert.rejects(RepoLock.acquire(store, { exclusive: false, operation: 'backup', waitMs: 0 }), /on another-pi, process 1/);
  assert.equal(await store.head('locks/far.json'), null, 'the unrefreshed lock of another host was stale');
  assert.ok(await store.head('locks/fresh.json'), 'a fresh lock of another host is respected');
});
