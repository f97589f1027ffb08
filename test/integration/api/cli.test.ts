import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigSchema } from '../../../bridge/config/schema.ts';
import { createLogger } from '../../../bridge/core/logger.ts';
import { Bridge } from '../../../bridge/controller.ts';
import { tempDir } from '../../helpers/tools.ts';
import { request } from './harness.ts';

const MAIN = path.resolve(import.meta.dirname, '../../../bridge/cli/main.ts');

function pidrive(dataDir: string, args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, '--data-dir', dataDir, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

async function startBridge(t: Parameters<typeof tempDir>[0], dataDir: string): Promise<{ port: number; bridge: Bridge }> {
  const logs: string[] = [];
  const config = ConfigSchema.parse({ bridge: { id: 'cli' }, http: { host: '127.0.0.1', port: 0 }, gadget: { backend: 'simulated' }, embedded_broker: { host: '127.0.0.1', port: 0 } });
  const bridge = new Bridge({ config, dataDir, log: createLogger({ level: 'info', format: 'json', write: (l) => logs.push(l) }), restart: { check: () => {}, request: () => {} } });
  await bridge.start();
  t.after(() => bridge.stop());
  const port = logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'api listening').port as number;
  return { port, bridge };
}

test('user and token commands work offline on the data directory', async (t) => {
  const dataDir = tempDir(t);
  const add = await pidrive(dataDir, ['user', 'add', 'alice', '--password-stdin', '--json'], 'password-alice\n');
  assert.equal(add.code, 0, add.stderr);
  assert.equal(JSON.parse(add.stdout).role, 'admin', 'the first user becomes admin');
  const weak = await pidrive(dataDir, ['user', 'add', 'bob', '--password-stdin', '--json'], 'weak\n');
  assert.equal(weak.code, 2);
  assert.deepEqual(Object.keys(JSON.parse(weak.stdout).error.fields), ['password']);
  const noTty = await pidrive(dataDir, ['user', 'add', 'bob']);
  assert.equal(noTty.code, 2);
  assert.match(noTty.stderr, /--password-stdin/);

  const created = await pidrive(dataDir, ['token', 'create', 'ha', '--role', 'viewer', '--expires', '90d', '--json']);
  assert.equal(created.code, 0, created.stderr);
  const token = JSON.parse(created.stdout);
  assert.deepEqual(Object.keys(token).sort(), ['drives', 'expires_at', 'name', 'role', 'token']);
  const human = await pidrive(dataDir, ['token', 'create', 'nr']);
  assert.match(human.stdout, /pdt_[A-Za-z0-9_-]{43}/);
  assert.match(human.stdout, /cannot be shown again/);
  const list = await pidrive(dataDir, ['token', 'list', '--json']);
  assert.ok(!list.stdout.includes(token.token.slice(4)), 'the list never shows secrets');
  assert.deepEqual(JSON.parse(list.stdout).map((x: { name: string }) => x.name), ['ha', 'nr']);

  // The offline-made token and user work once the bridge runs.
  const { port } = await startBridge(t, dataDir);
  const res = await request({ port }, '/drives', { token: token.token });
  assert.equal(res.status, 200);
  const login = await request({ port }, '/session', { method: 'POST', body: { name: 'alice', password: 'password-alice' } });
  assert.equal(login.status, 200);
});

test('with the bridge running the commands go through the control socket and take effect at once', async (t) => {
  const dataDir = tempDir(t);
  const { port } = await startBridge(t, dataDir);
  assert.equal((await pidrive(dataDir, ['user', 'add', 'root', '--password-stdin'], 'password-root')).code, 0);
  const op = await pidrive(dataDir, ['user', 'add', 'op', '--role', 'operator', '--password-stdin', '--json'], 'password-op\n');
  assert.equal(op.code, 0, op.stderr);
  assert.equal(JSON.parse(op.stdout).role, 'operator');
  const created = JSON.parse((await pidrive(dataDir, ['token', 'create', 'script', '--role', 'admin', '--json'])).stdout);
  assert.equal((await request({ port }, '/users', { token: created.token })).status, 200);
  const revoke = await pidrive(dataDir, ['token', 'revoke', 'script']);
  assert.equal(revoke.code, 0, revoke.stderr);
  assert.equal((await request({ port }, '/users', { token: created.token })).status, 401, 'revoked at once');

  assert.equal((await pidrive(dataDir, ['user', 'role', 'op', 'viewer'])).code, 0);
  assert.equal((await pidrive(dataDir, ['user', 'passwd', 'op', '--password-stdin'], 'new-password-op')).code, 0);
  const login = await request({ port }, '/session', { method: 'POST', body: { name: 'op', password: 'new-password-op' } });
  assert.equal(login.status, 200);
  assert.equal(login.body.user.role, 'viewer');
  const lastAdmin = await pidrive(dataDir, ['user', 'rm', 'root', '--json']);
  assert.equal(lastAdmin.code, 1);
  assert.equal(JSON.parse(lastAdmin.stdout).error.code, 'conflict');
  assert.equal((await pidrive(dataDir, ['user', 'rm', 'op'])).code, 0);
  const users = JSON.parse((await pidrive(dataDir, ['user', 'list', '--json'])).stdout);
  assert.deepEqual(users.map((u: { name: string }) => u.name), ['root']);

  const events = (await request({ socketPath: path.join(dataDir, 'pidrive.sock') }, '/events')).body as Array<{ action: string; actor: string; source: string }>;
  const audit = events.filter((e) => e.action.startsWith('user.') || e.action.startsWith('token.'));
  assert.deepEqual(audit.map((e) => e.action), ['user.add', 'user.add', 'token.create', 'token.revoke', 'user.update', 'user.update', 'user.remove']);
  assert.ok(audit.every((e) => e.actor === 'local' && e.source === 'socket'));
});
