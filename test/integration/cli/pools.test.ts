import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { tempDir } from '../../helpers/tools.ts';

const CLI = path.resolve(import.meta.dirname, '../../../bridge/cli/main.ts');
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PIDRIVE_')));

function pidrive(cwd: string, args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: ENV });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function jsonError(r: { stdout: string }): { code: string; message: string; fields?: Record<string, string> } {
  return (JSON.parse(r.stdout) as { error: { code: string; message: string; fields?: Record<string, string> } }).error;
}

/** `pidrive start` as its own process (simulated gadget, ephemeral ports), stopped when the test ends. */
async function startBridge(t: TestContext, dataDir: string): Promise<void> {
  const env = {
    ...ENV,
    PIDRIVE_HTTP__PORT: '0',
    PIDRIVE_HTTP__HOST: '127.0.0.1',
    PIDRIVE_EMBEDDED_BROKER__PORT: '0',
    PIDRIVE_EMBEDDED_BROKER__HOST: '127.0.0.1',
    PIDRIVE_GADGET__BACKEND: 'simulated',
  };
  // The daemon's working directory differs from the CLI's on purpose.
  const child = spawn(process.execPath, [CLI, '--data-dir', dataDir, 'start'], { cwd: path.dirname(CLI), env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  t.after(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  const deadline = Date.now() + 30_000;
  while (!output.includes('"bridge started"') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
  assert.ok(output.includes('"bridge started"'), output);
}

test('pool add validates the name offline as through the API, so no bad record reaches the drive list', (t) => {
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  const nas = path.join(dir, 'nas');
  fs.mkdirSync(nas);
  const bad = pidrive(dir, ['--data-dir', data, 'pool', 'add', '../bad', nas, '--json']);
  assert.equal(bad.code, 2, bad.stdout + bad.stderr);
  assert.deepEqual(Object.keys(jsonError(bad).fields ?? {}), ['name']);
  fs.writeFileSync(path.join(nas, 'x.img'), Buffer.alloc(1024 * 1024));
  const ref = pidrive(dir, ['--data-dir', data, 'drive', 'import', 'x', '--from', path.join(nas, 'x.img'), '--mode', 'reference', '--json']);
  assert.equal(ref.code, 2);
  assert.deepEqual(jsonError(ref).fields, { from: 'outside every pool' });
  const list = pidrive(dir, ['--data-dir', data, 'drive', 'list', '--json']);
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual(JSON.parse(list.stdout), []);
});

test('the data directory, a directory holding it, one inside it and a directory overlapping a pool are refused as pools', (t) => {
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  const nas = path.join(dir, 'nas');
  fs.mkdirSync(path.join(data, 'private'), { recursive: true });
  fs.mkdirSync(path.join(nas, 'sub'), { recursive: true });
  assert.equal(pidrive(dir, ['--data-dir', data, 'pool', 'add', 'nas', nas]).code, 0);
  const cases: Array<[string, RegExp]> = [
    [data, /is the data directory/],
    [dir, /contains the data directory/],
    [path.join(data, 'private'), /inside the data directory/],
    [path.join(data, 'images'), /inside the data directory/],
    [path.join(nas, 'sub'), /overlaps pool "nas"/],
  ];
  for (const [target, reason] of cases) {
    const r = pidrive(dir, ['--data-dir', data, 'pool', 'add', 'p2', target, '--json']);
    assert.equal(r.code, 2, target);
    const e = jsonError(r);
    assert.match(e.fields?.path ?? '', reason, target);
    assert.deepEqual(Object.keys(e.fields ?? {}), ['path'], target);
  }
  const pools = JSON.parse(pidrive(dir, ['--data-dir', data, 'pool', 'list', '--json']).stdout) as Array<{ name: string }>;
  assert.deepEqual(pools.map((p) => p.name), ['local', 'nas']);
  assert.deepEqual(fs.readdirSync(path.join(data, 'private')), [], 'no marker written into a refused directory');
  // The database could otherwise be served to the USB host: neither referenced nor copied.
  const db = path.join(data, 'pidrive.db');
  const ref = pidrive(dir, ['--data-dir', data, 'drive', 'import', 'db', '--from', db, '--mode', 'reference', '--json']);
  assert.deepEqual(jsonError(ref).fields, { from: 'outside every pool' });
  const copy = pidrive(dir, ['--data-dir', data, 'drive', 'import', 'db', '--from', db, '--json']);
  assert.equal(copy.code, 1);
  assert.deepEqual(jsonError(copy).fields, { from: 'inside the data directory' });
});

test('a configured pool overlapping the data directory is unavailable and never marked', (t) => {
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  fs.mkdirSync(path.join(data, 'inner'), { recursive: true });
  fs.writeFileSync(path.join(data, 'pidrive.yaml'), `pools:\n  inner:\n    path: ${path.join(data, 'inner')}\n`);
  const r = pidrive(dir, ['--data-dir', data, 'pool', 'list', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const inner = (JSON.parse(r.stdout) as Array<{ name: string; available: boolean; reason: string }>).find((p) => p.name === 'inner')!;
  assert.equal(inner.available, false);
  assert.match(inner.reason, /inside the data directory/);
  assert.deepEqual(fs.readdirSync(path.join(data, 'inner')), []);
});

test('a pool removed from the configuration leaves its drives listed as unavailable and removable with --force', (t) => {
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  const nas = path.join(dir, 'nas');
  fs.mkdirSync(nas);
  fs.mkdirSync(data);
  const yaml = path.join(data, 'pidrive.yaml');
  fs.writeFileSync(yaml, `pools:\n  nas:\n    path: ${nas}\n`);
  const cli = (...args: string[]) => pidrive(dir, ['--data-dir', data, ...args]);
  assert.equal(cli('drive', 'create', 'b', '--size', '8M', '--fs', 'none', '--pool', 'nas').code, 0);
  fs.writeFileSync(yaml, '');

  const list = cli('drive', 'list');
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^b .* nas \(pool "nas" is unavailable: pool no longer configured\)$/m);
  const show = cli('drive', 'show', 'b', '--json');
  assert.equal(show.code, 0, show.stderr);
  const b = JSON.parse(show.stdout);
  assert.equal(b.available, false);
  assert.equal(b.unavailable_reason, 'pool "nas" is unavailable: pool no longer configured');
  assert.equal(b.path, path.join(nas, 'b.img'), 'the path the pool last had');

  const refused = cli('drive', 'rm', 'b', '--json');
  assert.equal(refused.code, 1);
  assert.match(jsonError(refused).message, /drive "b": pool "nas" is unavailable: pool no longer configured; use --force/);
  const rm = cli('drive', 'rm', 'b', '--force');
  assert.equal(rm.code, 0, rm.stderr);
  assert.equal(rm.stdout.trim(), 'removed drive b; no image was deleted (pool "nas" is unavailable: pool no longer configured)');
  assert.ok(fs.existsSync(path.join(nas, 'b.img')), 'an image in a pool no longer configured is not touched');
  assert.deepEqual(JSON.parse(cli('drive', 'list', '--json').stdout), []);
});

test('a missing image is reported as missing, not as a pool that is down, and rm says what it did', (t) => {
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  const nas = path.join(dir, 'nas');
  fs.mkdirSync(nas);
  const cli = (...args: string[]) => pidrive(dir, ['--data-dir', data, ...args]);
  assert.equal(cli('pool', 'add', 'nas', nas).code, 0);
  for (const id of ['gone', 'kept', 'deleted']) assert.equal(cli('drive', 'create', id, '--size', '8M', '--fs', 'none').code, 0);
  fs.writeFileSync(path.join(nas, 'ref.img'), Buffer.alloc(1024 * 1024));
  assert.equal(cli('drive', 'import', 'ref', '--from', path.join(nas, 'ref.img'), '--mode', 'reference').code, 0);
  fs.rmSync(path.join(data, 'images', 'gone.img'));

  const list = cli('drive', 'list');
  assert.match(list.stdout, /^gone .* local \(image file missing\)$/m);
  assert.match(list.stdout, /^deleted .* local$/m);
  assert.equal(cli('pool', 'list', '--json').stdout.includes('"available": false'), false, 'the pools themselves are fine');

  assert.equal(cli('drive', 'rm', 'gone', '--force').stdout.trim(), 'removed drive gone; no image was deleted (image file missing)');
  assert.equal(cli('drive', 'rm', 'ref').stdout.trim(), 'removed drive ref; its referenced image was kept');
  assert.ok(fs.existsSync(path.join(nas, 'ref.img')));
  assert.equal(cli('drive', 'rm', 'deleted').stdout.trim(), 'removed drive deleted and its image');
  assert.equal(fs.existsSync(path.join(data, 'images', 'deleted.img')), false);
  const json = cli('drive', 'rm', 'kept', '--json');
  assert.deepEqual(JSON.parse(json.stdout), { id: 'kept', removed_file: true, image: 'deleted', reason: null });
});

test('relative paths are resolved in the CLI, not in the running bridge\'s working directory', { timeout: 90_000 }, async (t) => {
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  const work = path.join(dir, 'work');
  fs.mkdirSync(path.join(work, 'nas'), { recursive: true });
  fs.writeFileSync(path.join(work, 'rel.img'), Buffer.alloc(1024 * 1024, 7));
  await startBridge(t, data);
  const added = pidrive(work, ['--data-dir', data, 'pool', 'add', 'nas', 'nas', '--json']);
  assert.equal(added.code, 0, added.stdout + added.stderr);
  assert.equal(JSON.parse(added.stdout).path, path.join(work, 'nas'));
  const imported = pidrive(work, ['--data-dir', data, 'drive', 'import', 'rel', '--from', 'rel.img', '--pool', 'nas', '--json']);
  assert.equal(imported.code, 0, imported.stdout + imported.stderr);
  const drive = JSON.parse(imported.stdout);
  assert.equal(drive.path, path.join(work, 'nas', 'rel.img'));
  assert.deepEqual(fs.readFileSync(drive.path), fs.readFileSync(path.join(work, 'rel.img')));
  // Through the bridge too, rm reports what happened to the image.
  const rm = pidrive(work, ['--data-dir', data, 'drive', 'rm', 'rel']);
  assert.equal(rm.stdout.trim(), 'removed drive rel and its image', rm.stderr);
});
