import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { ConfigSchema } from '../../../bridge/config/schema.ts';
import { PiDriveError } from '../../../bridge/core/errors.ts';
import { AuthService } from '../../../bridge/auth/service.ts';
import { LOCAL_ADMIN, type Principal } from '../../../bridge/auth/principal.ts';
import { AUTH_MIGRATIONS } from '../../../bridge/auth/migrations.ts';
import { DRIVE_MIGRATIONS } from '../../../bridge/drives/schema.ts';
import { Store } from '../../../bridge/store/database.ts';
import { tempDir } from '../../helpers/tools.ts';
import { manualClock } from './clock.ts';

function setup(t: TestContext, auth: Record<string, number> = {}) {
  const store = new Store(tempDir(t));
  t.after(() => store.close());
  store.migrate('drives', DRIVE_MIGRATIONS);
  const clock = manualClock();
  const config = ConfigSchema.parse({ auth });
  return { store, clock, service: new AuthService(store, config.auth, clock) };
}

async function rejects(p: Promise<unknown> | (() => unknown), code: string): Promise<PiDriveError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    assert.ok(err instanceof PiDriveError, String(err));
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

test('the first user becomes admin; later users default to viewer; a first non-admin is refused', async (t) => {
  const { service } = setup(t);
  await rejects(service.addUser({ name: 'bob', password: 'password1', role: 'viewer' }), 'bad_request');
  assert.equal((await service.addUser({ name: 'alice', password: 'password1' })).role, 'admin');
  assert.equal((await service.addUser({ name: 'bob', password: 'password1' })).role, 'viewer');
  await rejects(service.addUser({ name: 'bob', password: 'password2' }), 'conflict');
});

test('the last admin can be neither removed nor demoted', async (t) => {
  const { service } = setup(t);
  await service.addUser({ name: 'alice', password: 'password1' });
  await rejects(() => service.users.remove('alice'), 'conflict');
  await rejects(() => service.users.setRole('alice', 'operator'), 'conflict');
  await service.addUser({ name: 'bob', password: 'password1', role: 'admin' });
  service.users.setRole('alice', 'operator');
  await rejects(() => service.users.remove('bob'), 'conflict');
  service.users.remove('alice');
  assert.deepEqual(service.users.list().map((u) => u.name), ['bob']);
});

test('tokens are stored hashed, expire, record last use and stop working when revoked', async (t) => {
  const { service, store, clock } = setup(t);
  const created = service.tokens.create({ name: 'ha', role: 'viewer', drives: ['b', 'a', 'a'], expires: '1h' }, 'local');
  assert.match(created.token, /^pdt_[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(created.drives, ['a', 'b']);
  const row = store.db.prepare('SELECT * FROM tokens').get() as Record<string, string>;
  assert.ok(!JSON.stringify(row).includes(created.token.slice(4)), 'the secret is not in the database');
  const p = service.bearer(created.token);
  assert.equal(p.role, 'viewer');
  assert.equal(p.actor, 'token:ha');
  assert.deepEqual(p.drives, ['a', 'b']);
  assert.equal(service.tokens.list()[0]!.last_used_at, clock.now().toISOString());
  await rejects(() => service.bearer(created.token + 'x'), 'unauthorized');
  clock.advance(3_600_000);
  await rejects(() => service.bearer(created.token), 'unauthorized');
  const other = service.tokens.create({ name: 'nr', role: 'operator' }, 'local');
  service.bearer(other.token);
  service.tokens.revoke('nr');
  await rejects(() => service.bearer(other.token), 'unauthorized');
  await rejects(() => service.tokens.revoke('nr'), 'not_found');
});

test('sessions end after the idle time, at the absolute expiry, on logout and on a password change', async (t) => {
  const { service, clock } = setup(t, { session_idle_minutes: 10, session_absolute_hours: 1 });
  await service.addUser({ name: 'alice', password: 'password1' });
  const s = await service.login('alice', 'password1', '127.0.0.1');
  const p = service.session(s.secret);
  assert.equal(p.role, 'admin');
  assert.equal(p.session?.csrf, s.csrf);
  clock.advance(9 * 60_000);
  service.session(s.secret);
  clock.advance(9 * 60_000);
  service.session(s.secret); // activity keeps it alive
  clock.advance(11 * 60_000);
  await rejects(() => service.session(s.secret), 'unauthorized');

  const s2 = await service.login('alice', 'password1', '127.0.0.1');
  for (let i = 0; i < 7; i++) {
    clock.advance(9 * 60_000);
    if (i < 6) service.session(s2.secret);
  }
  await rejects(() => service.session(s2.secret), 'unauthorized'); // 63 minutes > 1 hour absolute

  const s3 = await service.login('alice', 'password1', '127.0.0.1');
  service.logout(service.session(s3.secret));
  await rejects(() => service.session(s3.secret), 'unauthorized');

  const keep = await service.login('alice', 'password1', '127.0.0.1');
  const drop = await service.login('alice', 'password1', '127.0.0.1');
  await service.setPassword('alice', 'password2', service.session(keep.secret).session!.hash);
  service.session(keep.secret);
  await rejects(() => service.session(drop.secret), 'unauthorized');
});

test('a role change applies to a live session at once', async (t) => {
  const { service } = setup(t);
  await service.addUser({ name: 'alice', password: 'password1' });
  await service.addUser({ name: 'bob', password: 'password1', role: 'operator' });
  const s = await service.login('bob', 'password1', '::1');
  assert.equal(service.session(s.secret).role, 'operator');
  service.users.setRole('bob', 'viewer');
  assert.equal(service.session(s.secret).role, 'viewer');
  service.users.remove('bob');
  await rejects(() => service.session(s.secret), 'unauthorized');
});

test('login locks an account after repeated failures, for real and unknown names alike', async (t) => {
  const { service, clock } = setup(t, { login_max_failures: 3, login_lockout_minutes: 5 });
  await service.addUser({ name: 'alice', password: 'password1' });
  for (const name of ['alice', 'ghost']) {
    for (let i = 0; i < 3; i++) await rejects(service.login(name, 'wrong-password', `10.0.0.${i}`), 'unauthorized');
    const e = await rejects(service.login(name, name === 'alice' ? 'password1' : 'x', '10.0.1.1'), 'rate_limited');
    assert.match(e.message, /try again in 5 minutes/);
  }
  clock.advance(5 * 60_000 + 1);
  await service.login('alice', 'password1', '10.0.1.1');
});

test('login locks an address that guesses across accounts', async (t) => {
  const { service } = setup(t, { login_max_failures: 3 });
  await service.addUser({ name: 'alice', password: 'password1' });
  for (let i = 0; i < 3; i++) await rejects(service.login(`user${i}`, 'wrong-password', '192.0.2.7'), 'unauthorized');
  await rejects(service.login('alice', 'password1', '192.0.2.7'), 'rate_limited');
  await service.login('alice', 'password1', '192.0.2.8');
});

test('first-run setup needs the one-time code and closes once an admin exists', async (t) => {
  const { service } = setup(t);
  const code = service.openSetup();
  assert.match(code ?? '', /^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$/);
  assert.equal(service.setupOpen(), true);
  await rejects(service.completeSetup('AAAA-BBBB-CCCC', 'alice', 'password1', '::1'), 'unauthorized');
  const s = await service.completeSetup(code!.toLowerCase().replaceAll('-', ' '), 'alice', 'password1', '::1');
  assert.equal(s.user.role, 'admin');
  assert.equal(service.setupOpen(), false);
  await rejects(service.completeSetup(code!, 'mallory', 'password1', '::1'), 'conflict');
  assert.equal(service.openSetup(), null);
});

test('setup closes when an admin is added another way (the CLI) while it is open', async (t) => {
  const { service } = setup(t);
  const code = service.openSetup()!;
  await service.addUser({ name: 'alice', password: 'password1' });
  assert.equal(service.setupOpen(), false);
  await rejects(service.completeSetup(code, 'mallory', 'password1', '::1'), 'conflict');
});

test('drive visibility: owner, shares, unowned drives, admins, tokens limited to drives', async (t) => {
  const { service } = setup(t);
  await service.addUser({ name: 'admin', password: 'password1' });
  await service.addUser({ name: 'alice', password: 'password1', role: 'operator' });
  await service.addUser({ name: 'bob', password: 'password1', role: 'viewer' });
  const alice = service.session((await service.login('alice', 'password1', 'a')).secret);
  const bob = service.session((await service.login('bob', 'password1', 'b')).secret);
  const admin = service.session((await service.login('admin', 'password1', 'c')).secret);
  const drives = [
    { id: 'mine', owner: alice.userId },
    { id: 'common', owner: null },
    { id: 'shared', owner: admin.userId },
    { id: 'private', owner: admin.userId },
  ];
  service.shares.replace('shared', [bob.userId!]);
  const ids = (p: Principal) => service.visible(p, drives).map((d) => d.id);
  assert.deepEqual(ids(alice), ['mine', 'common']);
  assert.deepEqual(ids(bob), ['common', 'shared']);
  assert.deepEqual(ids(admin), ['mine', 'common', 'shared', 'private']);
  assert.deepEqual(ids(LOCAL_ADMIN), ['mine', 'common', 'shared', 'private']);
  assert.throws(() => service.tokens.create({ name: 'x', role: 'admin', drives: ['private'] }, 'local'), /cannot be limited to drives/, 'an admin token acts on the whole bridge');
  const token = service.bearer(service.tokens.create({ name: 't', role: 'operator', drives: ['private'] }, 'local').token);
  assert.deepEqual(ids(token), ['private']);
  for (const p of [alice, bob, admin, token]) for (const d of drives) assert.equal(service.mayAccess(p, d), ids(p).includes(d.id));
  assert.deepEqual(service.access(drives[2]!), { owner: 'admin', shares: ['bob'] });
  service.users.remove('bob');
  assert.deepEqual(service.access(drives[2]!), { owner: 'admin', shares: [] });
});

test('an admin token with a drive list from before version 3 becomes an operator of those drives', (t) => {
  const store = new Store(tempDir(t));
  t.after(() => store.close());
  store.migrate('drives', DRIVE_MIGRATIONS);
  store.migrate('auth', AUTH_MIGRATIONS.slice(0, 2));
  const insert = store.db.prepare("INSERT INTO tokens (name, hash, role, drives, created_at, created_by) VALUES (?, ?, ?, ?, '2026-01-01T00:00:00Z', 'local')");
  insert.run('limited', 'h1', 'admin', JSON.stringify(['d-a']));
  insert.run('whole', 'h2', 'admin', null);
  store.migrate('auth', AUTH_MIGRATIONS);
  const roles = store.db.prepare('SELECT name, role, drives FROM tokens ORDER BY name').all();
  assert.deepEqual(roles, [
    { name: 'limited', role: 'operator', drives: '["d-a"]' },
    { name: 'whole', role: 'admin', drives: null },
  ]);
});
