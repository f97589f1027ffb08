import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { pathInPool } from '../../../bridge/drives/paths.ts';
import { LOCAL, openDrives } from '../../helpers/bridge.ts';
import { tempDir } from '../../helpers/tools.ts';

const ATTACKS = ['../escape', '../../etc/passwd', '/etc/passwd', 'a/../../b', 'x\0y', '..', '', 'sub/../../../tmp/x'];

test('pathInPool refuses every name that leaves the pool', (t) => {
  const pool = tempDir(t);
  for (const name of ATTACKS) assert.throws(() => pathInPool(pool, name), /pool|relative/, JSON.stringify(name));
  assert.equal(pathInPool(pool, 'ok.img'), path.join(fs.realpathSync(pool), 'ok.img'));
});

test('a symlink planted inside the pool pointing out is refused', (t) => {
  const dir = tempDir(t);
  const pool = path.join(dir, 'pool');
  const outside = path.join(dir, 'outside');
  fs.mkdirSync(pool);
  fs.mkdirSync(outside);
  fs.symlinkSync(outside, path.join(pool, 'link'));
  fs.symlinkSync(path.join(outside, 'target.img'), path.join(pool, 'evil.img'));
  assert.throws(() => pathInPool(pool, 'link/x.img'), /symbolic link/);
  assert.throws(() => pathInPool(pool, 'evil.img'), /symbolic link/);
});

test('drive operations with traversal-shaped ids and planted symlinks create nothing outside the pool', async (t) => {
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  const outside = path.join(dir, 'outside');
  fs.mkdirSync(outside);
  const s = openDrives(data);
  t.after(s.close);
  const before = fs.readdirSync(dir).sort();
  for (const id of ['../x', '/abs', 'a/b', 'x\0', '..', 'UPPER', '-dash', 'a'.repeat(33)]) {
    await assert.rejects(s.drives.create({ id, size: '8M', fs: 'none' }, LOCAL), (e: { fields?: object }) => 'id' in (e.fields ?? {}), id);
    await assert.rejects(s.drives.import({ id, from: '/dev/null' }, LOCAL), (e: { fields?: object }) => 'id' in (e.fields ?? {}) || 'from' in (e.fields ?? {}), id);
  }
  // A symlink planted where the next image would go, pointing outside the pool.
  fs.symlinkSync(path.join(outside, 'planted.img'), path.join(data, 'images', 'victim.img'));
  await assert.rejects(s.drives.create({ id: 'victim', size: '8M', fs: 'none' }, LOCAL), /symbolic link|exists/);
  // A symlink inside the pool to a file outside: reference import must not adopt it.
  fs.writeFileSync(path.join(outside, 'secret.img'), Buffer.alloc(4096));
  fs.symlinkSync(path.join(outside, 'secret.img'), path.join(data, 'images', 'sneaky.img'));
  await assert.rejects(s.drives.import({ id: 'sneaky', from: path.join(data, 'images', 'sneaky.img'), mode: 'reference' }, LOCAL), /not inside a pool/);
  assert.deepEqual(fs.readdirSync(outside).sort(), ['secret.img']);
  assert.deepEqual(fs.readdirSync(dir).sort(), before);
  assert.deepEqual(s.drives.list(), []);
});
