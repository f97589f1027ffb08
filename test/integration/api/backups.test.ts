import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { tempDir } from '../../helpers/tools.ts';
import { makeDrive, startBridgeWithBackup as startBridge, type TestBridge } from './harness.ts';

async function waitJob(tb: TestBridge, id: string, token: string): Promise<Record<string, any>> {
  for (let i = 0; i < 200; i++) {
    const res = await tb.http(`/jobs/${id}`, { token });
    assert.equal(res.status, 200, res.text);
    if (['succeeded', 'failed', 'canceled'].includes(res.body.state)) return res.body;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`job ${id} did not finish`);
}

async function login(tb: TestBridge, name: string) {
  const res = await tb.http('/session', { method: 'POST', body: { name, password: `password-${name}` } });
  assert.equal(res.status, 200, res.text);
  return { cookie: String(res.headers['set-cookie']![0]).split(';')[0]!, csrf: res.body.csrf_token as string };
}

test('back up, list snapshots and restore into a new drive over HTTP, with roles and drive scopes', async (t) => {
  const tb = await startBridge(t);
  const repoDir = tempDir(t, 'pidrive-repo-');
  const admin = await tb.token('admin', 'admin');
  const viewer = await tb.token('viewer', 'viewer');
  const onlyB = await tb.token('only-b', 'operator', { drives: ['d-b'] });
  await makeDrive(tb, 'd-a');
  await makeDrive(tb, 'd-b');
  await tb.local('/users', { method: 'POST', body: { name: 'root', password: 'password-root' } });
  await tb.local('/users', { method: 'POST', body: { name: 'op', password: 'password-op', role: 'operator' } });

  const repo = await tb.http('/repositories', { method: 'POST', body: { name: 'main', url: `file://${repoDir}` }, token: admin });
  assert.equal(repo.status, 201, repo.text);
  assert.equal((await tb.http('/repositories', { token: viewer })).body[0].name, 'main');

  assert.equal((await tb.http('/drives/d-a/backups', { method: 'POST', body: {}, token: viewer })).status, 403);
  assert.equal((await tb.http('/drives/d-a/backups', { method: 'POST', body: {}, token: onlyB })).status, 404);
  const started = await tb.http('/drives/d-a/backups', { method: 'POST', body: { repository: 'main' }, token: admin });
  assert.equal(started.status, 202, started.text);
  assert.equal(started.body.type, 'backup');
  const done = await waitJob(tb, started.body.id, admin);
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));

  // Jobs and snapshots of d-a are invisible to a token limited to d-b, exactly like missing ones.
  assert.equal((await tb.http(`/jobs/${started.body.id}`, { token: onlyB })).status, 404);
  assert.deepEqual((await tb.http('/jobs', { token: onlyB })).body, []);
  assert.equal((await tb.http('/drives/d-a/snapshots', { token: onlyB })).status, 404);
  const snaps = await tb.http('/drives/d-a/snapshots', { token: viewer });
  assert.equal(snaps.status, 200, snaps.text);
  assert.equal(snaps.body.length, 1);
  assert.equal(snaps.body[0].drive, 'd-a');

  const op = await login(tb, 'op');
  const inPlace = await tb.http(`/drives/d-a/snapshots/${snaps.body[0].id}/restore`, { method: 'POST', body: { target: { kind: 'in_place' } }, ...op });
  assert.equal(inPlace.status, 403, 'restoring in place is admin-only');
  const restore = await tb.http('/drives/d-a/snapshots/latest/restore', { method: 'POST', body: { target: { kind: 'new_drive', drive: 'd-copy' } }, ...op });
  assert.equal(restore.status, 202, restore.text);
  assert.equal((await waitJob(tb, restore.body.id, admin)).state, 'succeeded');
  assert.deepEqual((await tb.local('/drives/d-copy/access')).body, { owner: 'op', shares: [] }, 'the restored drive belongs to the user who asked, from the moment it exists');
  // Asked by a token (no user behind it), the copy keeps the source's owner: a private drive's copy stays private.
  await tb.local('/drives/d-a/access', { method: 'PUT', body: { owner: 'op' } });
  const byToken = await tb.http('/drives/d-a/snapshots/latest/restore', { method: 'POST', body: { target: { kind: 'new_drive', drive: 'd-copy2' } }, token: admin });
  assert.equal((await waitJob(tb, byToken.body.id, admin)).state, 'succeeded');
  assert.deepEqual((await tb.local('/drives/d-copy2/access')).body, { owner: 'op', shares: [] });

  // Repository-wide jobs name the snapshots of every drive: only a whole-bridge admin sees or cancels them.
  const verify = await tb.http('/repositories/main/verify', { method: 'POST', body: {}, token: admin });
  assert.equal(verify.status, 202, verify.text);
  assert.equal((await tb.http(`/jobs/${verify.body.id}`, { token: viewer })).status, 404);
  assert.ok(!(await tb.http('/jobs', { token: viewer })).body.some((j: { id: string }) => j.id === verify.body.id));
  assert.equal((await tb.http(`/jobs/${verify.body.id}/cancel`, { method: 'POST', ...op })).status, 404);
  assert.equal((await waitJob(tb, verify.body.id, admin)).state, 'succeeded');

  // A removed drive's snapshots stay reachable for an admin: the way back from an accidental delete.
  await tb.local('/drives/d-b/access', { method: 'PUT', body: { owner: 'op' } });
  const b = await tb.http('/drives/d-b/backups', { method: 'POST', body: {}, token: admin });
  assert.equal((await waitJob(tb, b.body.id, admin)).state, 'succeeded');
  assert.equal((await tb.http('/drives/d-b', { method: 'DELETE', token: admin })).status, 200);
  assert.equal((await tb.http('/drives/d-b/snapshots', { token: viewer })).status, 404);
  assert.equal((await tb.http('/drives/d-b/snapshots', { token: admin })).body.length, 1);
  const back = await tb.http('/drives/d-b/snapshots/latest/restore', { method: 'POST', body: { target: { kind: 'new_drive', drive: 'd-b' } }, token: admin });
  assert.equal(back.status, 202, back.text);
  assert.equal((await waitJob(tb, back.body.id, admin)).state, 'succeeded');
  assert.equal((await tb.http('/drives/d-b', { token: viewer })).status, 200);
  assert.deepEqual((await tb.local('/drives/d-b/access')).body, { owner: 'op', shares: [] }, 'the snapshot remembers the owner of the removed drive');

  const audit = (await tb.local('/events?limit=1000')).body.filter((e: { kind: string }) => e.kind === 'audit').map((e: { action: string; actor: string }) => `${e.action} ${e.actor}`);
  assert.ok(audit.includes('repository.add token:admin'));
  assert.ok(audit.includes('backup.start token:admin'));
  assert.ok(audit.includes('backup.restore user:op'));
});

test('schedules: admins manage them; a patch changes only what it sends', async (t) => {
  const tb = await startBridge(t);
  const repoDir = tempDir(t, 'pidrive-repo-');
  const admin = await tb.token('admin', 'admin');
  const operator = await tb.token('operator', 'operator');
  await makeDrive(tb, 'd-a');
  await tb.http('/repositories', { method: 'POST', body: { name: 'main', url: `file://${repoDir}` }, token: admin });
  const body = { drives: ['d-a'], cron: '0 3 * * *', timezone: 'Europe/Berlin', repository: 'main', keep: { daily: 7 } };
  assert.equal((await tb.http('/schedules', { method: 'POST', body, token: operator })).status, 403);
  const bad = await tb.http('/schedules', { method: 'POST', body: { ...body, cron: 'every day' }, token: admin });
  assert.equal(bad.status, 400);
  assert.ok('cron' in bad.body.error.fields, bad.text);
  const made = await tb.http('/schedules', { method: 'POST', body, token: admin });
  assert.equal(made.status, 201, made.text);
  const patched = await tb.http(`/schedules/${made.body.id}`, { method: 'PATCH', body: { cron: '0 4 * * *' }, token: admin });
  assert.equal(patched.status, 200, patched.text);
  assert.equal(patched.body.cron, '0 4 * * *');
  assert.equal(patched.body.timezone, 'Europe/Berlin', 'an unsent field keeps its value');
  assert.equal((await tb.http('/schedules', { token: operator })).body.length, 1);
  assert.equal((await tb.http(`/schedules/${made.body.id}`, { method: 'DELETE', token: admin })).status, 204);
  assert.deepEqual((await tb.http('/schedules', { token: admin })).body, []);
});

test('job progress and completion reach the WebSocket of those who may see the drive', async (t) => {
  const tb = await startBridge(t);
  const repoDir = tempDir(t, 'pidrive-repo-');
  const admin = await tb.token('admin', 'admin');
  const onlyB = await tb.token('only-b', 'viewer', { drives: ['d-b'] });
  await makeDrive(tb, 'd-a');
  await makeDrive(tb, 'd-b');
  await tb.http('/repositories', { method: 'POST', body: { name: 'main', url: `file://${repoDir}` }, token: admin });
  const listen = async (token: string) => {
    const ws = new WebSocket(`ws://127.0.0.1:${tb.port}/api/v1/ws`, { headers: { authorization: `Bearer ${token}` } });
    const topics: Array<{ topic: string; payload: any }> = [];
    ws.on('message', (d) => topics.push(JSON.parse(String(d))));
    await once(ws, 'open');
    t.after(() => ws.close());
    return topics;
  };
  const all = await listen(admin);
  const limited = await listen(onlyB);
  const job = await tb.http('/drives/d-a/backups', { method: 'POST', body: {}, token: admin });
  assert.equal(job.status, 202, job.text);
  await waitJob(tb, job.body.id, admin);
  for (let i = 0; i < 100 && !all.some((m) => m.topic === `job/${job.body.id}` && m.payload.state === 'succeeded'); i++) await new Promise((r) => setTimeout(r, 20));
  const mine = all.filter((m) => m.topic === `job/${job.body.id}`);
  assert.ok(mine.some((m) => m.payload.state === 'succeeded'), `job messages: ${mine.map((m) => m.payload.state).join(',')}`);
  assert.ok(all.some((m) => m.topic === 'drive/d-a' && m.payload.last_backup !== null), 'the drive state carries the new backup');
  assert.equal(limited.some((m) => m.topic.startsWith('job/') || m.topic === 'drive/d-a'), false);
});
