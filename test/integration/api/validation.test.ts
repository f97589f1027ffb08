import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertClean, makeDrive, startBridge, type Res } from './harness.ts';

function refusedNaming(res: Res, field: string, status = 400): void {
  assert.equal(res.status, status, res.text);
  assert.equal(typeof res.body.error.message, 'string');
  assert.ok(res.body.error.fields && field in res.body.error.fields, `expected field "${field}" in ${res.text}`);
  assertClean(res);
}

test('bad input is refused with a 4xx naming the field, never a crash or a stack trace', async (t) => {
  const tb = await startBridge(t, { http: { max_body_bytes: 64 * 1024 } });
  const token = await tb.token('admin', 'admin');
  await makeDrive(tb, 'd-a');
  const post = (path: string, extra: Record<string, unknown>) => tb.http(path, { method: 'POST', token, ...extra });

  refusedNaming(await post('/drives', { raw: '{"id": "x", "size": ' }), 'body');
  refusedNaming(await post('/drives', { raw: '[1, 2' }), 'body');
  refusedNaming(await post('/drives', { raw: '"just a string"' }), 'body');
  refusedNaming(await post('/drives', { body: [] }), 'body');
  refusedNaming(await post('/drives', { raw: 'id=x&size=1M', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 'content-type');

  refusedNaming(await post('/drives', { body: { id: 'x', size: true } }), 'size');
  refusedNaming(await post('/drives', { body: { id: 42, size: '1M' } }), 'id');
  refusedNaming(await post('/drives', { body: { id: 'x', size: '1M', fs: 'ntfs' } }), 'fs');
  refusedNaming(await post('/drives', { body: { id: 'x', size: '1 potato' } }), 'size');
  refusedNaming(await post('/drives', { body: { id: 'x' } }), 'size');
  refusedNaming(await post('/drives', { body: { id: 'x', size: '1M', color: 'red' } }), 'color');
  refusedNaming(await post('/drives/d-a/attach', { body: { mode: 'read_only', force: true } }), 'force');
  refusedNaming(await post('/drives/d-a/attach', { body: { mode: 'write_only' } }), 'mode');
  refusedNaming(await post('/drives/d-a/detach', { body: { now: true } }), 'now');
  refusedNaming(await post('/tokens', { body: { name: 'n', drives: ['../etc'] } }), 'drives.0');
  refusedNaming(await post('/tokens', { body: { name: 'n', expires: '-1d' } }), 'expires');
  refusedNaming(await post('/users', { body: { name: 'eve', password: 'short' } }), 'password');
  refusedNaming(await tb.http('/drives/d-a', { method: 'PATCH', token, body: {} }), 'mode');
  refusedNaming(await tb.http('/events?since=abc', { token }), 'since');
  refusedNaming(await tb.http('/events?bogus=1', { token }), 'bogus');
  refusedNaming(await tb.http('/drives/d-a?force=yes', { method: 'DELETE', token }), 'force');

  const huge = JSON.stringify({ id: 'x', size: '1M', label: 'x'.repeat(128 * 1024) });
  refusedNaming(await post('/drives', { raw: huge }), 'body', 413);

  for (const id of ['..%2F..%2Fetc%2Fpasswd', '%2e%2e', '.hidden', 'UPPER', 'a'.repeat(40), '%00', 'x%2Fy', '-dash']) {
    refusedNaming(await tb.http(`/drives/${id}`, { token }), 'id');
    refusedNaming(await post(`/drives/${id}/attach`, { body: {} }), 'id');
  }
  refusedNaming(await tb.http('/users/..%2Fadmin', { method: 'DELETE', token }), 'name');
  refusedNaming(await tb.http('/tokens/%2e%2e%2f', { method: 'DELETE', token }), 'name');
  refusedNaming(await post('/drives', { body: { id: '../../etc', size: '1M' } }), 'id');
  refusedNaming(await post('/drives', { body: { id: 'x', size: '1M', pool: '../..' } }), 'pool');

  const badEncoding = await tb.http('/drives/%E0%A4%A', { token });
  assert.equal(badEncoding.status, 400);
  assertClean(badEncoding);
  const unknown = await tb.http('/nope', { token });
  assert.equal(unknown.status, 404);
  assertClean(unknown);

  const drives = (await tb.local('/drives')).body;
  assert.deepEqual(drives.map((d: { id: string }) => d.id), ['d-a'], 'nothing was created');
  assert.equal((await tb.http('/health')).status, 200);
});

test('responses carry no secrets: token lists, users and errors never show hashes or token values', async (t) => {
  const tb = await startBridge(t);
  const token = await tb.token('admin', 'admin');
  await tb.local('/users', { method: 'POST', body: { name: 'alice', password: 'password-alice' } });
  for (const path of ['/tokens', '/users', '/events', '/bridge', '/drives', '/session', '/openapi.json']) {
    const res = await tb.http(path, { token });
    assert.equal(res.status, 200, `${path}: ${res.text}`);
    assertClean(res, [token, 'password-alice']);
  }
  assert.equal(tb.logs.some((l) => l.includes(token) || l.includes('password-alice')), false, 'nor does the log');
});

test('PATCH /drives/{id} is all or nothing: a size the requested mode cannot take changes nothing', async (t) => {
  const tb = await startBridge(t);
  await makeDrive(tb, 'iso');
  const refused = await tb.local('/drives/iso', { method: 'PATCH', body: { size: '3G', mode: 'cdrom' } });
  assert.equal(refused.status, 413, refused.text);
  assert.ok(refused.body.error.fields.size);
  const after = await tb.local('/drives/iso');
  assert.equal(after.body.size_bytes, 1024 * 1024, 'not grown');
  assert.equal(after.body.mode, 'read_write');
  const both = await tb.local('/drives/iso', { method: 'PATCH', body: { size: '2M', mode: 'read_only' } });
  assert.equal(both.status, 200, both.text);
  assert.deepEqual([both.body.drive.size_bytes, both.body.drive.mode], [2 * 1024 * 1024, 'read_only']);
});
