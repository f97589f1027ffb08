import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiRoutes } from '../../../bridge/api/routes/index.ts';
import { assertClean, makeDrive, startBridge, type TestBridge } from './harness.ts';

/**
 * A plausible request for every state-changing route, aimed at drive "d-a" and principals that
 * exist. A new mutating route without an entry here fails the test, so none escapes these checks.
 */
function samples(tb: TestBridge): Record<string, { path: string; body?: unknown }> {
  return {
    'delete /session': { path: '/session' },
    'post /drives': { path: '/drives', body: { id: 'd-new', size: '1M', fs: 'none' } },
    'patch /drives/{id}': { path: '/drives/d-a', body: { mode: 'read_only' } },
    'delete /drives/{id}': { path: '/drives/d-a' },
    'post /drives/{id}/attach': { path: '/drives/d-a/attach', body: {} },
    'post /drives/{id}/detach': { path: '/drives/d-a/detach', body: {} },
    'post /drives/{id}/eject': { path: '/drives/d-a/eject', body: {} },
    'put /drives/{id}/access': { path: '/drives/d-a/access', body: { shares: [] } },
    'post /pools': { path: '/pools', body: { name: 'extra', path: tb.dataDir } },
    'post /users': { path: '/users', body: { name: 'carol', password: 'password-carol' } },
    'patch /users/{name}': { path: '/users/alice', body: { role: 'viewer' } },
    'delete /users/{name}': { path: '/users/alice' },
    'post /tokens': { path: '/tokens', body: { name: 'sneaky', role: 'admin' } },
    'delete /tokens/{name}': { path: '/tokens/admin' },
    'post /repositories': { path: '/repositories', body: { name: 'elsewhere', url: `file://${tb.dataDir}/elsewhere` } },
    'post /repositories/{name}/verify': { path: '/repositories/main/verify', body: {} },
    'post /repositories/{name}/prune': { path: '/repositories/main/prune', body: {} },
    'post /drives/{id}/backups': { path: '/drives/d-a/backups', body: {} },
    'post /drives/{id}/snapshots/{snap}/restore': { path: '/drives/d-a/snapshots/latest/restore', body: { target: { kind: 'new_drive', drive: 'd-r' } } },
    'post /jobs/{id}/cancel': { path: '/jobs/00000000-0000-4000-8000-000000000000/cancel' },
    'post /schedules': { path: '/schedules', body: { drives: ['d-a'], cron: '0 3 * * *', repository: 'main' } },
    'patch /schedules/{id}': { path: '/schedules/abc', body: { cron: '0 4 * * *' } },
    'delete /schedules/{id}': { path: '/schedules/abc' },
  };
}

const mutating = apiRoutes.filter((r) => r.method !== 'get' && r.access !== 'public');
const key = (r: { method: string; path: string }): string => `${r.method} ${r.path}`;

async function fixture(t: Parameters<typeof startBridge>[0]) {
  const tb = await startBridge(t);
  await makeDrive(tb, 'd-a');
  await makeDrive(tb, 'd-b');
  const admin = await tb.local('/users', { method: 'POST', body: { name: 'alice', password: 'password-alice' } });
  assert.equal(admin.status, 201, admin.text);
  const tokens = {
    admin: await tb.token('admin', 'admin'),
    operator: await tb.token('operator', 'operator'),
    viewer: await tb.token('viewer', 'viewer'),
    onlyB: await tb.token('only-b', 'operator', { drives: ['d-b'] }),
    expired: await tb.token('expired', 'admin', { expires: '1m' }),
    revoked: await tb.token('revoked', 'admin'),
  };
  assert.equal((await tb.local('/tokens/revoked', { method: 'DELETE' })).status, 204);
  tb.clock.advance(2 * 60_000);
  return { tb, tokens };
}

/** What the refused requests must not have changed. */
async function stateOf(tb: TestBridge): Promise<string> {
  const [drives, users, tokens, pools] = await Promise.all(['/drives', '/users', '/tokens', '/pools'].map((p) => tb.local(p)));
  const strip = (list: Array<Record<string, unknown>>) => list.map(({ last_used_at: _l, allocated_bytes: _a, ...rest }) => rest);
  return JSON.stringify([strip(drives!.body), users!.body, strip(tokens!.body), pools!.body.map((p: { name: string }) => p.name)]);
}

test('every state-changing route refuses missing, expired, revoked, under-privileged and out-of-scope credentials', async (t) => {
  const { tb, tokens } = await fixture(t);
  const sample = samples(tb);
  for (const r of mutating) assert.ok(sample[key(r)], `no sample request for ${key(r)}: add one to this test`);
  const before = await stateOf(tb);
  const secrets = Object.values(tokens);

  for (const r of mutating) {
    const { path, body } = sample[key(r)]!;
    const send = (extra: { token?: string; headers?: Record<string, string> }) => tb.http(path, { method: r.method.toUpperCase(), body, ...extra });

    const anonymous = await send({});
    assert.equal(anonymous.status, 401, `${key(r)} without credentials: ${anonymous.text}`);
    assert.equal(anonymous.body.error.code, 'unauthorized');
    assert.match(String(anonymous.headers['www-authenticate']), /^Bearer/);

    for (const which of ['expired', 'revoked'] as const) {
      const res = await send({ token: tokens[which] });
      assert.equal(res.status, 401, `${key(r)} with the ${which} token: ${res.text}`);
      assertClean(res, secrets);
    }
    const garbage = await send({ headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } });
    assert.equal(garbage.status, 401, `${key(r)} with Basic auth`);

    if (r.path !== '/session') {
      const viewer = await send({ token: tokens.viewer });
      assert.equal(viewer.status, 403, `${key(r)} with a viewer token: ${viewer.text}`);
      assert.equal(viewer.body.error.code, 'forbidden');
      assertClean(viewer, secrets);
    }

    if (r.path.startsWith('/drives/{id}')) {
      // Limited to d-b: d-a must look exactly like a drive that does not exist.
      const scoped = await send({ token: tokens.onlyB });
      const ghostPath = path.replace('/drives/d-a', '/drives/d-zz');
      const ghost = await tb.http(ghostPath, { method: r.method.toUpperCase(), body, token: tokens.onlyB });
      assert.ok([403, 404].includes(scoped.status), `${key(r)} out of scope: ${scoped.status} ${scoped.text}`);
      assert.equal(scoped.status, ghost.status, `${key(r)}: a hidden drive answers like a missing one`);
      assert.equal(scoped.text.replaceAll('d-a', 'X'), ghost.text.replaceAll('d-zz', 'X'));
    }
  }
  assert.equal(await stateOf(tb), before, 'refused requests changed nothing');
});

test('a token limited to drives sees and controls only those, and cannot create others', async (t) => {
  const { tb, tokens } = await fixture(t);
  const list = await tb.http('/drives', { token: tokens.onlyB });
  assert.deepEqual(list.body.map((d: { id: string }) => d.id), ['d-b']);
  assert.equal((await tb.http('/drives/d-a', { token: tokens.onlyB })).status, 404);
  assert.equal((await tb.http('/drives/d-b/attach', { method: 'POST', body: {}, token: tokens.onlyB })).body.attached, true);
  const created = await tb.http('/drives', { method: 'POST', body: { id: 'd-c', size: '1M', fs: 'none' }, token: tokens.onlyB });
  assert.equal(created.status, 403);
  assert.ok(created.body.error.fields.id);
  const bridge = await tb.http('/bridge', { token: tokens.onlyB });
  assert.equal(bridge.body.drive_count, 1, 'counts cover only visible drives');
  const events = await tb.http('/events', { token: tokens.onlyB });
  assert.ok(events.body.length > 0);
  assert.ok(events.body.every((e: { drive: string | null; kind: string }) => e.drive === 'd-b' || (e.drive === null && e.kind !== 'audit')));
  assert.equal((await tb.http('/events?drive=d-a', { token: tokens.onlyB })).status, 404);
});

test('roles: viewer reads, operator controls drives, admin manages; successes are audited with actor and address', async (t) => {
  const { tb, tokens } = await fixture(t);
  assert.equal((await tb.http('/drives', { token: tokens.viewer })).status, 200);
  assert.equal((await tb.http('/bridge', { token: tokens.viewer })).status, 200);
  assert.equal((await tb.http('/users', { token: tokens.operator })).status, 403);
  assert.equal((await tb.http('/tokens', { token: tokens.operator })).status, 403);
  const attach = await tb.http('/drives/d-a/attach', { method: 'POST', body: { mode: 'read_only' }, token: tokens.operator });
  assert.equal(attach.status, 200, attach.text);
  assert.equal(attach.body.attached, true);
  assert.equal(attach.body.mode, 'read_only');
  const detach = await tb.http('/drives/d-a/detach', { method: 'POST', token: tokens.operator });
  assert.equal(detach.status, 200, detach.text);
  assert.equal(detach.body.drive.attached, false);
  assert.equal((await tb.http('/drives/d-a', { method: 'DELETE', token: tokens.operator })).status, 403);
  assert.equal((await tb.http('/drives/d-a', { method: 'DELETE', token: tokens.admin })).status, 200);
  const user = await tb.http('/users', { method: 'POST', body: { name: 'bob', password: 'password-bob', role: 'operator' }, token: tokens.admin });
  assert.equal(user.status, 201, user.text);
  assert.equal(user.body.password, undefined);

  const audit = (await tb.local('/events?limit=1000')).body.filter((e: { kind: string }) => e.kind === 'audit');
  const find = (action: string) => audit.findLast((e: { action: string }) => e.action === action);
  assert.deepEqual([find('drive.attach')?.actor, find('drive.attach')?.drive, find('drive.attach')?.source], ['token:operator', 'd-a', '127.0.0.1']);
  assert.equal(find('drive.detach')?.actor, 'token:operator');
  assert.equal(find('drive.remove')?.actor, 'token:admin');
  assert.deepEqual(find('user.add')?.details, { name: 'bob', role: 'operator' });
  assert.equal(find('token.create')?.actor, 'local');
  assert.equal(find('token.create')?.source, 'socket');
  assert.ok(!JSON.stringify(audit).includes('password-bob'), 'no password in the audit log');
  assert.ok(!JSON.stringify(audit).includes(tokens.admin), 'no token in the audit log');
});

test('users see their own, shared and unowned drives; an operator user becomes owner of what it creates', async (t) => {
  const { tb, tokens } = await fixture(t);
  await tb.local('/users', { method: 'POST', body: { name: 'bob', password: 'password-bob', role: 'operator' } });
  await tb.local('/users', { method: 'POST', body: { name: 'carol', password: 'password-carol', role: 'viewer' } });
  const login = async (name: string) => {
    const res = await tb.http('/session', { method: 'POST', body: { name, password: `password-${name}` } });
    assert.equal(res.status, 200, res.text);
    return { cookie: String(res.headers['set-cookie']![0]).split(';')[0]!, csrf: res.body.csrf_token as string };
  };
  const bob = await login('bob');
  const carol = await login('carol');
  const made = await tb.http('/drives', { method: 'POST', body: { id: 'bobs', size: '1M', fs: 'none' }, ...bob });
  assert.equal(made.status, 201, made.text);
  const access = await tb.http('/drives/bobs/access', { token: tokens.admin });
  assert.deepEqual(access.body, { owner: 'bob', shares: [] });
  const ids = async (s: { cookie: string }) => (await tb.http('/drives', { cookie: s.cookie })).body.map((d: { id: string }) => d.id);
  assert.deepEqual(await ids(carol), ['d-a', 'd-b'], 'unowned drives are visible, bob\'s is not');
  assert.equal((await tb.http('/drives/bobs', { cookie: carol.cookie })).status, 404);
  await tb.http('/drives/d-a/access', { method: 'PUT', body: { owner: 'alice' }, token: tokens.admin });
  const shared = await tb.http('/drives/bobs/access', { method: 'PUT', body: { shares: ['carol'] }, token: tokens.admin });
  assert.deepEqual(shared.body, { owner: 'bob', shares: ['carol'] });
  assert.deepEqual(await ids(carol), ['bobs', 'd-b']);
  assert.deepEqual(await ids(bob), ['bobs', 'd-b']);
  const unknown = await tb.http('/drives/bobs/access', { method: 'PUT', body: { shares: ['nobody'] }, token: tokens.admin });
  assert.equal(unknown.status, 400);
  assert.deepEqual(unknown.body.error.fields, { 'shares.0': 'unknown user' });
});

test('no admin token limited to drives; shares die with the drive however it is removed', async (t) => {
  const { tb, tokens } = await fixture(t);
  const limitedAdmin = await tb.http('/tokens', { method: 'POST', body: { name: 'ladmin', role: 'admin', drives: ['d-a'] }, token: tokens.admin });
  assert.equal(limitedAdmin.status, 400, 'an admin token acts on the whole bridge');
  assert.ok(limitedAdmin.body.error.fields.drives);

  await tb.local('/users', { method: 'POST', body: { name: 'bob', password: 'password-bob', role: 'operator' } });
  await tb.local('/drives/d-a/access', { method: 'PUT', body: { owner: 'alice', shares: ['bob'] } });
  // Removed past the API (as MQTT and the offline CLI do), then a new drive of the same id.
  await tb.context.drives.remove('d-a', {}, { actor: 'mqtt' });
  await makeDrive(tb, 'd-a');
  assert.deepEqual((await tb.local('/drives/d-a/access')).body, { owner: null, shares: [] }, 'the new d-a inherits nothing');
});

test('parallel login guesses are counted before they are checked', async (t) => {
  const tb = await startBridge(t, { auth: { login_max_failures: 5 } });
  await tb.local('/users', { method: 'POST', body: { name: 'carol', password: 'password-carol' } });
  const attempts = Array.from({ length: 30 }, (_, i) => tb.http('/session', { method: 'POST', body: { name: 'carol', password: i === 29 ? 'password-carol' : `guess-${i}` } }));
  const statuses = (await Promise.all(attempts)).map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 401).length, 5, `only 5 guesses are checked: ${statuses.join(',')}`);
  assert.equal(statuses.filter((s) => s === 429).length, 25);
});
