import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import https from 'node:https';
import path from 'node:path';
import { test } from 'node:test';
import { requireTool } from '../../helpers/tools.ts';
import { assertClean, makeDrive, startBridge, type TestBridge } from './harness.ts';

function cookieOf(setCookie: string[] | undefined): string {
  assert.ok(setCookie && setCookie.length === 1, 'one Set-Cookie header');
  return setCookie[0]!.split(';')[0]!;
}

async function login(tb: TestBridge, name: string, password: string) {
  const res = await tb.http('/session', { method: 'POST', body: { name, password } });
  assert.equal(res.status, 200, res.text);
  return { cookie: cookieOf(res.headers['set-cookie']), csrf: res.body.csrf_token as string, res };
}

test('first-run setup: open with the logged code until an admin exists, then closed', async (t) => {
  const tb = await startBridge(t);
  assert.match(tb.setupCode ?? '', /^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$/, 'the setup code is printed in the log');
  assert.deepEqual((await tb.http('/setup')).body, { open: true });
  const wrong = await tb.http('/setup', { method: 'POST', body: { code: 'AAAA-BBBB-CCCC', name: 'alice', password: 'password-alice' } });
  assert.equal(wrong.status, 401);
  assert.deepEqual(wrong.body.error.fields, { code: 'wrong setup code' });
  const ok = await tb.http('/setup', { method: 'POST', body: { code: tb.setupCode, name: 'alice', password: 'password-alice' } });
  assert.equal(ok.status, 201, ok.text);
  assert.equal(ok.body.user.role, 'admin');
  const cookie = cookieOf(ok.headers['set-cookie']);
  assert.equal((await tb.http('/users', { cookie })).body[0].name, 'alice', 'setup logs the new admin in');
  assert.deepEqual((await tb.http('/setup')).body, { open: false });
  const again = await tb.http('/setup', { method: 'POST', body: { code: tb.setupCode, name: 'mallory', password: 'password-mallory' } });
  assert.equal(again.status, 409);
  assert.equal((await tb.local('/users')).body.length, 1);
});

test('setup is closed from the start when an admin exists, and when one is added on the CLI meanwhile', async (t) => {
  const tb = await startBridge(t);
  await tb.local('/users', { method: 'POST', body: { name: 'root', password: 'password-root' } });
  const res = await tb.http('/setup', { method: 'POST', body: { code: tb.setupCode, name: 'mallory', password: 'password-mallory' } });
  assert.equal(res.status, 409);
  assert.deepEqual((await tb.http('/setup')).body, { open: false });
});

test('session cookie is HttpOnly and SameSite=Strict; state changes need the CSRF token; logout ends the session', async (t) => {
  const tb = await startBridge(t);
  await tb.local('/users', { method: 'POST', body: { name: 'alice', password: 'password-alice' } });
  const { cookie, csrf, res } = await login(tb, 'alice', 'password-alice');
  const attrs = res.headers['set-cookie']![0]!;
  assert.match(attrs, /; HttpOnly/);
  assert.match(attrs, /; SameSite=Strict/);
  assert.doesNotMatch(attrs, /Secure/, 'plain HTTP: no Secure attribute (the browser would drop the cookie)');
  assertClean(res, [cookie.split('=')[1]!]);

  const who = await tb.http('/session', { cookie });
  assert.deepEqual([who.body.name, who.body.role, who.body.csrf_token], ['alice', 'admin', csrf]);

  const body = { id: 'web', size: '1M', fs: 'none' };
  const noCsrf = await tb.http('/drives', { method: 'POST', body, cookie });
  assert.equal(noCsrf.status, 403);
  assert.deepEqual(Object.keys(noCsrf.body.error.fields), ['x-csrf-token']);
  const wrongCsrf = await tb.http('/drives', { method: 'POST', body, cookie, csrf: csrf.slice(0, -1) + (csrf.endsWith('A') ? 'B' : 'A') });
  assert.equal(wrongCsrf.status, 403);
  assert.equal((await tb.local('/drives')).body.length, 0, 'refused requests created nothing');
  const ok = await tb.http('/drives', { method: 'POST', body, cookie, csrf });
  assert.equal(ok.status, 201, ok.text);

  assert.equal((await tb.http('/session', { method: 'DELETE', cookie })).status, 403, 'logout needs CSRF too');
  const out = await tb.http('/session', { method: 'DELETE', cookie, csrf });
  assert.equal(out.status, 204);
  assert.match(String(out.headers['set-cookie']), /pidrive_session=; .*Max-Age=0/);
  assert.equal((await tb.http('/drives', { cookie })).status, 401);
});

test('a session expires after the idle time', async (t) => {
  const tb = await startBridge(t, { auth: { session_idle_minutes: 5 } });
  await tb.local('/users', { method: 'POST', body: { name: 'alice', password: 'password-alice' } });
  const { cookie } = await login(tb, 'alice', 'password-alice');
  tb.clock.advance(4 * 60_000);
  assert.equal((await tb.http('/drives', { cookie })).status, 200);
  tb.clock.advance(6 * 60_000);
  const res = await tb.http('/drives', { cookie });
  assert.equal(res.status, 401);
  assert.match(res.body.error.message, /expired/);
});

test('login locks out after repeated failures, per account and per address; failures are audited', async (t) => {
  const tb = await startBridge(t, { auth: { login_max_failures: 4, login_lockout_minutes: 10 } });
  await tb.local('/users', { method: 'POST', body: { name: 'alice', password: 'password-alice' } });
  for (let i = 0; i < 4; i++) {
    const res = await tb.http('/session', { method: 'POST', body: { name: 'alice', password: `guess-${i}` } });
    assert.equal(res.status, 401);
    assert.equal(res.headers['set-cookie'], undefined);
  }
  const locked = await tb.http('/session', { method: 'POST', body: { name: 'alice', password: 'password-alice' } });
  assert.equal(locked.status, 429, 'the right password is refused during the lockout');
  assert.match(locked.body.error.message, /try again in 10 minutes/);
  // The address is locked too: other accounts from here are refused.
  await tb.local('/users', { method: 'POST', body: { name: 'bob', password: 'password-bob' } });
  assert.equal((await tb.http('/session', { method: 'POST', body: { name: 'bob', password: 'password-bob' } })).status, 429);
  tb.clock.advance(10 * 60_000 + 1000);
  await login(tb, 'alice', 'password-alice');
  const failed = (await tb.local('/events')).body.filter((e: { action: string }) => e.action === 'session.login_failed');
  assert.equal(failed.length, 4);
  assert.equal(failed[0].source, '127.0.0.1');
  assert.ok(!JSON.stringify(failed).includes('guess-'), 'attempted passwords are not recorded');
});

test('users change their own password with the current one; only admins change others', async (t) => {
  const tb = await startBridge(t);
  await tb.local('/users', { method: 'POST', body: { name: 'alice', password: 'password-alice' } });
  await tb.local('/users', { method: 'POST', body: { name: 'bob', password: 'password-bob', role: 'viewer' } });
  const bob = await login(tb, 'bob', 'password-bob');
  const other = await login(tb, 'bob', 'password-bob');
  const wrong = await tb.http('/users/bob', { method: 'PATCH', body: { password: 'new-password', current_password: 'nope' }, ...bob });
  assert.equal(wrong.status, 403);
  assert.deepEqual(wrong.body.error.fields, { current_password: 'wrong' });
  const role = await tb.http('/users/bob', { method: 'PATCH', body: { role: 'admin' }, ...bob });
  assert.equal(role.status, 403, 'no self-promotion');
  assert.equal((await tb.http('/users/alice', { method: 'PATCH', body: { password: 'hijacked-pw' }, ...bob })).status, 403);
  const ok = await tb.http('/users/bob', { method: 'PATCH', body: { password: 'new-password', current_password: 'password-bob' }, ...bob });
  assert.equal(ok.status, 200, ok.text);
  assert.equal((await tb.http('/drives', { cookie: bob.cookie })).status, 200, 'the session that changed it lives on');
  assert.equal((await tb.http('/drives', { cookie: other.cookie })).status, 401, 'other sessions end');
  await login(tb, 'bob', 'new-password');
});

test('behind TLS the session cookie is Secure', async (t) => {
  if (!requireTool(t, 'openssl')) return;
  const dir = (await import('../../helpers/tools.ts')).tempDir(t);
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  const tb = await startBridge(t, { http: { tls_cert_file: cert, tls_key_file: key } });
  await tb.local('/users', { method: 'POST', body: { name: 'alice', password: 'password-alice' } });
  const res = await new Promise<{ status: number; cookie: string }>((resolve, reject) => {
    const payload = JSON.stringify({ name: 'alice', password: 'password-alice' });
    const r = https.request(
      { host: '127.0.0.1', port: tb.port, path: '/api/v1/session', method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
      (response) => {
        response.resume();
        response.on('end', () => resolve({ status: response.statusCode!, cookie: String(response.headers['set-cookie']) }));
      },
    );
    r.on('error', reject);
    r.end(payload);
  });
  assert.equal(res.status, 200);
  assert.match(res.cookie, /; Secure/);
  assert.match(res.cookie, /; HttpOnly/);
});

test('a drive created by a logged-in user belongs to that user', async (t) => {
  const tb = await startBridge(t);
  await tb.local('/users', { method: 'POST', body: { name: 'alice', password: 'password-alice' } });
  await tb.local('/users', { method: 'POST', body: { name: 'op', password: 'password-op', role: 'operator' } });
  await makeDrive(tb, 'shared');
  const op = await login(tb, 'op', 'password-op');
  const res = await tb.http('/drives', { method: 'POST', body: { id: 'mine', size: '1M', fs: 'none' }, ...op });
  assert.equal(res.status, 201, res.text);
  assert.notEqual(res.body.owner, null);
  assert.deepEqual((await tb.local('/drives/mine/access')).body, { owner: 'op', shares: [] });
});

test('X-Forwarded-For is believed only from trusted proxies (no lockout bypass by spoofing)', async (t) => {
  const tb = await startBridge(t, { auth: { login_max_failures: 3 } });
  await tb.local('/users', { method: 'POST', body: { name: 'alice', password: 'password-alice' } });
  await tb.local('/users', { method: 'POST', body: { name: 'bob', password: 'password-bob' } });
  for (let i = 0; i < 3; i++) {
    await tb.http('/session', { method: 'POST', body: { name: `nobody${i}`, password: 'wrong-password' }, headers: { 'x-forwarded-for': `203.0.113.${i}` } });
  }
  const res = await tb.http('/session', { method: 'POST', body: { name: 'bob', password: 'password-bob' }, headers: { 'x-forwarded-for': '198.51.100.1' } });
  assert.equal(res.status, 429, 'the real address is locked whatever the header says');
  const failed = (await tb.local('/events')).body.filter((e: { action: string }) => e.action === 'session.login_failed');
  assert.ok(failed.every((e: { source: string }) => e.source === '127.0.0.1'));

  const proxied = await startBridge(t, { auth: { login_max_failures: 3 }, http: { trusted_proxies: ['127.0.0.1'] } });
  await proxied.local('/users', { method: 'POST', body: { name: 'bob', password: 'password-bob' } });
  for (let i = 0; i < 3; i++) {
    await proxied.http('/session', { method: 'POST', body: { name: `nobody${i}`, password: 'wrong-password' }, headers: { 'x-forwarded-for': '203.0.113.9' } });
  }
  const other = await proxied.http('/session', { method: 'POST', body: { name: 'bob', password: 'password-bob' }, headers: { 'x-forwarded-for': '198.51.100.1' } });
  assert.equal(other.status, 200, 'behind a trusted proxy each client address counts on its own');
  const blocked = await proxied.http('/session', { method: 'POST', body: { name: 'bob', password: 'password-bob' }, headers: { 'x-forwarded-for': '203.0.113.9' } });
  assert.equal(blocked.status, 429);
});
