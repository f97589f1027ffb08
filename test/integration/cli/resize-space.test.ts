import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { MAX_DRIVE_BYTES } from '../../../bridge/drives/size.ts';
import { pidrive, startDaemon } from '../../helpers/daemon.ts';
import { requireTool, tempDir } from '../../helpers/tools.ts';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

function digest(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

test('drive resize beyond the pool\'s free space is refused naming the free space, offline and through the bridge; the image is unchanged', { timeout: 90_000 }, async (t) => {
  if (!requireTool(t, 'mkfs.vfat')) return;
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  const cli = (...args: string[]) => pidrive(dir, ['--data-dir', data, ...args]);
  const created = cli('drive', 'create', 'x', '--size', '64M', '--fs', 'fat32', '--json');
  assert.equal(created.code, 0, created.stderr);
  const image = (JSON.parse(created.stdout) as { path: string }).path;
  const before = { size: fs.statSync(image).size, digest: digest(image) };
  assert.equal(before.size, 64 * MiB);

  const pools = JSON.parse(cli('pool', 'list', '--json').stdout) as Array<{ name: string; free_bytes: number | null }>;
  const free = pools.find((p) => p.name === 'local')!.free_bytes;
  assert.ok(typeof free === 'number' && free > 0, 'the local pool reports its free space');
  // Growing by 1 GiB more than is free: far beyond it, yet a size the drive limits allow.
  const target = Math.ceil((64 * MiB + free + GiB) / MiB) * MiB;
  if (target > MAX_DRIVE_BYTES) return t.skip('the pool has more free space than the largest drive');
  const size = `${target / MiB}M`;

  const check = (where: string): void => {
    const json = cli('drive', 'resize', 'x', '--size', size, '--json');
    // errors.ts: every code but bad_request/invalid_config exits 1 ("the operation failed").
    assert.equal(json.code, 1, `${where}: ${json.stdout}${json.stderr}`);
    const err = (JSON.parse(json.stdout) as { error: { code: string; message: string; fields: Record<string, string> } }).error;
    assert.equal(err.code, 'insufficient_space', where);
    assert.match(err.message, /^pool "local" has \d+(\.\d+)? [KMGT]?i?B free, growing the drive needs \d+(\.\d+)? [KMGT]?i?B$/, where);
    assert.deepEqual(Object.keys(err.fields), ['size'], where);
    const human = cli('drive', 'resize', 'x', '--size', size);
    assert.equal(human.code, 1, where);
    assert.match(human.stderr, /pool "local" has .+ free, growing the drive needs/, where);
    assert.deepEqual({ size: fs.statSync(image).size, digest: digest(image) }, before, `${where}: the image is unchanged`);
    const show = JSON.parse(cli('drive', 'show', 'x', '--json').stdout) as { size_bytes: number };
    assert.equal(show.size_bytes, 64 * MiB, `${where}: the record is unchanged`);
  };
  check('offline');
  await startDaemon(t, data);
  check('through the bridge');
  // The same drive still grows within the free space, so the refusal above was about space alone.
  const grown = cli('drive', 'resize', 'x', '--size', '128M', '--json');
  assert.equal(grown.code, 0, grown.stdout + grown.stderr);
  assert.equal(fs.statSync(image).size, 128 * MiB);
});
