import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { requireTool, tempDir } from '../../helpers/tools.ts';
import { MiB, randomBytes, sameBytes, textBytes, writeAt } from './helpers.ts';

const CLI = path.resolve(import.meta.dirname, '../../../bridge/cli/main.ts');

function cli(dataDir: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, '--data-dir', dataDir, '--json', ...args], { encoding: 'utf8' });
  return { code: r.status, json: r.stdout ? (JSON.parse(r.stdout) as Record<string, unknown> & Array<Record<string, unknown>>) : null, stderr: r.stderr };
}

test('pidrive repo add/list and backup run/list/restore/verify/prune work offline with --json and exit codes', { timeout: 120_000 }, async (t) => {
  if (!requireTool(t, 'mkfs.vfat', 'cmp')) return;
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  const repoUrl = pathToFileURL(path.join(dir, 'repo')).href;
  assert.equal(cli(data, 'drive', 'create', 'cam', '--size', '64M').code, 0);
  const image = path.join(data, 'images', 'cam.img');
  writeAt(image, 8 * MiB, textBytes('docs', 4 * MiB));

  assert.equal(cli(data, 'backup', 'run', 'cam').json!.error !== undefined, true, 'no repository yet');
  const bad = cli(data, 'repo', 'add', 'main', '/not/a/url');
  assert.equal(bad.code, 2);
  assert.ok((bad.json!.error as { fields: Record<string, string> }).fields.url);
  const added = cli(data, 'repo', 'add', 'main', repoUrl, '--block-size', '512K');
  assert.equal(added.code, 0, added.stderr);
  assert.equal(added.json!.block_size, 512 * 1024);
  assert.equal(cli(data, 'repo', 'add', 'main', repoUrl).code, 1, 'a second repository of the same name is refused');
  const repos = cli(data, 'repo', 'list').json as unknown as Array<{ name: string; available: boolean }>;
  assert.deepEqual(repos.map((r) => [r.name, r.available]), [['main', true]]);

  const first = cli(data, 'backup', 'run', 'cam');
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.json!.drive, 'cam');
  assert.ok((first.json!.new_bytes as number) > 0);
  assert.match(first.stderr, /"progress":"backup cam reading"/, 'progress goes to stderr as JSON lines');
  const v1 = path.join(dir, 'v1.img');
  fs.copyFileSync(image, v1);
  writeAt(image, 20 * MiB, randomBytes('more', 2 * MiB));
  const second = cli(data, 'backup', 'run', 'cam', '--repo', 'main');
  assert.equal(second.code, 0);
  assert.equal(second.json!.changed_blocks, 4, '2 MiB of new data in 512 KiB blocks');

  const list = cli(data, 'backup', 'list', 'cam').json as unknown as Array<{ id: string }>;
  assert.deepEqual(list.map((s) => s.id), [second.json!.id, first.json!.id]);
  const restored = cli(data, 'backup', 'restore', 'cam', first.json!.id as string, '--to', 'cam-old');
  assert.equal(restored.code, 0, restored.stderr);
  assert.ok(sameBytes(path.join(data, 'images', 'cam-old.img'), v1));
  const drives = cli(data, 'drive', 'list').json as unknown as Array<{ id: string; last_backup: string | null }>;
  assert.ok(drives.some((d) => d.id === 'cam-old'));

  assert.equal(cli(data, 'backup', 'verify', '--sample', '0').code, 2);
  const verified = cli(data, 'backup', 'verify');
  assert.equal(verified.code, 0);
  assert.equal(verified.json!.ok, true);
  const pruned = cli(data, 'backup', 'prune', '--keep-last', '1');
  assert.equal(pruned.code, 0, pruned.stderr);
  assert.equal((pruned.json!.removed_snapshots as unknown[]).length, 1);
  assert.equal(cli(data, 'backup', 'prune', '--keep-last', 'x').code, 2);
  assert.equal(cli(data, 'backup', 'restore', 'cam', 'not-an-id', '--to', 'x').code, 2);

  // A damaged chunk: verify fails (exit 1) and names the affected snapshot.
  const chunks = path.join(dir, 'repo', 'chunks');
  const sub = path.join(chunks, fs.readdirSync(chunks)[0]!);
  fs.rmSync(path.join(sub, fs.readdirSync(sub)[0]!));
  const damaged = cli(data, 'backup', 'verify');
  assert.equal(damaged.code, 1);
  assert.match(damaged.stderr, /"problem":"missing"/);
  assert.match(damaged.stderr, new RegExp(second.json!.id as string));
});

test('kill -9 of "pidrive backup run" (no snapshot, job marked interrupted, chunks reused) and of an in-place restore (old image whole)', { timeout: 120_000 }, async (t) => {
  if (!requireTool(t, 'mkfs.vfat')) return;
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  assert.equal(cli(data, 'drive', 'create', 'cam', '--size', '512M', '--fs', 'none').code, 0);
  assert.equal(cli(data, 'repo', 'add', 'main', pathToFileURL(path.join(dir, 'repo')).href).code, 0);
  const image = path.join(data, 'images', 'cam.img');
  writeAt(image, 0, randomBytes('big', 160 * MiB));

  // Killed once 40% of the 160 one-MiB blocks are stored: watching the repository instead of the
  // once-a-second progress lines keeps the kill mid-run however fast the machine is.
  const chunks = path.join(dir, 'repo', 'chunks');
  const stored = () => (fs.existsSync(chunks) ? fs.readdirSync(chunks, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length : 0);
  const child = spawn(process.execPath, [CLI, '--data-dir', data, '--json', 'backup', 'run', 'cam'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  while (child.exitCode === null && stored() < 64) await new Promise((r) => setTimeout(r, 2));
  child.kill('SIGKILL');
  await exited;
  assert.equal(child.signalCode, 'SIGKILL');
  assert.deepEqual(cli(data, 'backup', 'list', 'cam').json, [], 'no partial snapshot');
  const next = cli(data, 'backup', 'run', 'cam');
  assert.equal(next.code, 0, next.stderr);
  assert.ok((next.json!.new_chunks as number) < (next.json!.data_blocks as number) * 0.7, `chunks of the killed run are reused: ${next.json!.new_chunks} new of ${next.json!.data_blocks}`);
  assert.equal(cli(data, 'backup', 'verify').json!.ok, true);

  // The interrupted job is in the history as failed, not running forever.
  const { Store } = await import('../../../bridge/store/database.ts');
  const store = new Store(data);
  t.after(() => store.close());
  const rows = store.db.prepare("SELECT state, error FROM backup_jobs WHERE type = 'backup' ORDER BY seq").all() as Array<{ state: string; error: string | null }>;
  assert.deepEqual(rows.map((r) => r.state), ['failed', 'succeeded']);
  assert.match(rows[0]!.error!, /interrupted/);

  // kill -9 in the middle of an in-place restore: the image stays as it was, and the next command
  // clears the leftover; a restore run to the end then gives the snapshot's bytes.
  const snapshotBytes = path.join(dir, 'snapshot.img');
  fs.copyFileSync(image, snapshotBytes);
  writeAt(image, 0, randomBytes('after', 160 * MiB));
  const current = path.join(dir, 'current.img');
  fs.copyFileSync(image, current);
  const images = path.dirname(image);
  const leftovers = () => fs.readdirSync(images).filter((f) => f.startsWith('.pidrive-tmp.'));
  const written = () => leftovers().reduce((sum, f) => sum + (fs.statSync(path.join(images, f), { throwIfNoEntry: false })?.blocks ?? 0) * 512, 0);
  const restorer = spawn(process.execPath, [CLI, '--data-dir', data, '--json', 'backup', 'restore', 'cam', 'latest'], { stdio: 'ignore' });
  const restorerExited = new Promise<void>((resolve) => restorer.on('exit', () => resolve()));
  while (restorer.exitCode === null && written() < 48 * MiB) await new Promise((r) => setTimeout(r, 2));
  restorer.kill('SIGKILL');
  await restorerExited;
  assert.equal(restorer.signalCode, 'SIGKILL', 'the restore was killed mid-write');
  assert.ok(sameBytes(image, current), 'the image is whole and unchanged after the kill');
  assert.deepEqual(store.db.prepare('SELECT drive, op FROM drive_ops').all(), [{ drive: 'cam', op: 'replace' }], 'the kill left the replacement journalled');
  const after = cli(data, 'drive', 'show', 'cam');
  assert.equal(after.json!.size_bytes, 512 * MiB);
  assert.deepEqual(store.db.prepare('SELECT drive, op FROM drive_ops').all(), [], 'the interrupted replacement is closed');
  assert.deepEqual(leftovers(), [], 'the next command removed the unfinished restore');
  const full = cli(data, 'backup', 'restore', 'cam', 'latest');
  assert.equal(full.code, 0, full.stderr);
  assert.ok(sameBytes(image, snapshotBytes), 'a completed in-place restore gives the snapshot');
});

test('with the bridge running, backup commands go through it and the drive view shows the backup', { timeout: 120_000 }, async (t) => {
  if (!requireTool(t, 'mkfs.vfat')) return;
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  fs.mkdirSync(data, { recursive: true });
  fs.writeFileSync(
    path.join(data, 'pidrive.yaml'),
    [
      'http: { host: 127.0.0.1, port: 0 }',
      'embedded_broker: { host: 127.0.0.1, port: 0 }',
      'gadget: { backend: simulated }',
      `repositories: { main: { url: "${pathToFileURL(path.join(dir, 'repo')).href}" } }`,
      'log: { level: warn }',
    ].join('\n'),
  );
  assert.equal(cli(data, 'drive', 'create', 'cam', '--size', '64M').code, 0);
  writeAt(path.join(data, 'images', 'cam.img'), 20 * MiB, randomBytes('live', 3 * MiB));
  const bridge = spawn(process.execPath, [CLI, '--data-dir', data, 'start'], { stdio: 'ignore' });
  t.after(() => {
    if (bridge.exitCode === null) bridge.kill('SIGKILL');
  });
  const sock = path.join(data, 'pidrive.sock');
  for (let i = 0; i < 600 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(fs.existsSync(sock), 'the bridge listens on its control socket');

  const run = cli(data, 'backup', 'run', 'cam');
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.json!.repository, 'main', 'a configured repository is created on first use');
  const list = cli(data, 'backup', 'list', 'cam').json as unknown as Array<{ id: string }>;
  assert.deepEqual(list.map((s) => s.id), [run.json!.id]);
  const view = cli(data, 'drive', 'show', 'cam').json!;
  assert.equal(view.last_backup, run.json!.time);
  assert.equal(view.backup_state, 'idle');
  const verify = cli(data, 'backup', 'verify');
  assert.equal(verify.code, 0, verify.stderr);
  assert.equal(verify.json!.ok, true);
  const exited = new Promise((r) => bridge.once('exit', r));
  bridge.kill('SIGTERM');
  await exited;
});
