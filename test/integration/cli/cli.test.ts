import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { allCommands } from '../../../bridge/cli/commands/index.ts';
import { requireTool, tempDir } from '../../helpers/tools.ts';

const CLI = path.resolve(import.meta.dirname, '../../../bridge/cli/main.ts');

function withoutPidriveVars(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('PIDRIVE_')));
}

function pidrive(cwd: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { ...withoutPidriveVars(process.env), ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('a new user creates a 32 GiB exFAT drive and lists it as JSON', (t) => {
  if (!requireTool(t, 'mkfs.exfat', 'blkid')) return;
  const cwd = tempDir(t);
  const created = pidrive(cwd, ['drive', 'create', 'x', '--size', '32G', '--fs', 'exfat']);
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /created drive x \(32\.0 GiB, exfat\)/);
  const list = pidrive(cwd, ['drive', 'list', '--json']);
  assert.equal(list.code, 0, list.stderr);
  const drives = JSON.parse(list.stdout) as Array<Record<string, unknown>>;
  assert.equal(drives.length, 1);
  const d = drives[0]!;
  assert.equal(d.id, 'x');
  assert.equal(d.size_bytes, 32 * 2 ** 30);
  assert.equal(d.filesystem, 'exfat');
  assert.equal(d.partition, 'mbr');
  assert.equal(d.mode, 'read_write');
  assert.equal(d.attached, false);
  assert.equal(d.pool, 'local');
  assert.equal(d.path, path.join(fs.realpathSync(cwd), 'data', 'images', 'x.img'));
  assert.ok((d.allocated_bytes as number) < 16 * 2 ** 20);
  for (const key of ['host_connected', 'last_backup', 'backup_state', 'suspicious_change']) assert.ok(key in d, key);

  const show = pidrive(cwd, ['drive', 'show', 'x', '--json']);
  assert.equal(JSON.parse(show.stdout).id, 'x');
  assert.match(pidrive(cwd, ['drive', 'list']).stdout, /^ID\s+SIZE\s+ALLOCATED[\s\S]*\nx\s+32\.0 GiB/);
});

test('exit codes: 0 done, 1 the operation failed, 2 bad usage; errors as JSON with --json', (t) => {
  const cwd = tempDir(t);
  assert.equal(pidrive(cwd, ['drive', 'list']).code, 0);
  const missing = pidrive(cwd, ['drive', 'rm', 'ghost', '--json']);
  assert.equal(missing.code, 1);
  assert.deepEqual(JSON.parse(missing.stdout), { error: { code: 'not_found', message: 'no drive "ghost"', fields: { id: 'unknown drive' } } });
  const bad = pidrive(cwd, ['drive', 'create', 'y', '--size', 'lots', '--json']);
  assert.equal(bad.code, 2);
  assert.equal(JSON.parse(bad.stdout).error.fields.size, '"lots" is not a size; use e.g. 64M, 32G, 500MiB');
  assert.equal(pidrive(cwd, ['drive', 'create']).code, 2);
  assert.equal(pidrive(cwd, ['drive', 'create', 'y', '--bogus']).code, 2);
  assert.equal(pidrive(cwd, ['frobnicate']).code, 2);
  const offline = pidrive(cwd, ['drive', 'attach', 'x']);
  assert.equal(offline.code, 1);
  assert.match(offline.stderr, /bridge is not running/);
});

test('every command has --help', (t) => {
  const cwd = tempDir(t);
  for (const cmd of allCommands) {
    const r = pidrive(cwd, [...cmd.name.split(' '), '--help']);
    assert.equal(r.code, 0, cmd.name);
    assert.match(r.stdout, new RegExp(`^Usage: pidrive ${cmd.name}`), cmd.name);
  }
  assert.match(pidrive(cwd, ['--help']).stdout, /Commands:/);
});

test('pidrive start with an invalid configuration lists every problem and exits 2 before anything starts', (t) => {
  const cwd = tempDir(t);
  fs.writeFileSync(path.join(cwd, 'bad.yaml'), 'http:\n  port: -1\nlog:\n  level: loud\n');
  const r = pidrive(cwd, ['start', '--config', 'bad.yaml'], { PIDRIVE_GADGET__LUNS: '40' });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /http\.port/);
  assert.match(r.stderr, /log\.level/);
  assert.match(r.stderr, /gadget\.luns/);
  assert.equal(fs.existsSync(path.join(cwd, 'data')), false, 'nothing was created');
});
