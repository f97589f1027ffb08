import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PiDriveError } from '../../../bridge/core/errors.ts';
import { LOCAL, openDrives } from '../../helpers/bridge.ts';
import { tempDir } from '../../helpers/tools.ts';

test('a drive record an older version let in is named in one clear error, never a dump of validation issues', async (t) => {
  const s = openDrives(tempDir(t));
  t.after(s.close);
  await s.drives.create({ id: 'good', size: '8M', fs: 'none' }, LOCAL);
  // What "pool add ../bad" followed by a referenced import left behind before pool names were validated offline.
  s.store.db.prepare("UPDATE drives SET pool = '../bad' WHERE id = 'good'").run();
  for (const call of [() => s.drives.list(), () => s.drives.views(), () => s.drives.view('good')]) {
    assert.throws(call, (err: unknown) => {
      assert.ok(err instanceof PiDriveError);
      assert.equal(err.message, 'drive "good" has an invalid record in the database: pool: must be 1-32 characters: lowercase letters, digits, dashes and underscores');
      assert.deepEqual(Object.keys(err.fields ?? {}), ['pool']);
      return true;
    });
  }
});

test('pool add validates its input whoever calls it', (t) => {
  const s = openDrives(tempDir(t));
  t.after(s.close);
  for (const [input, field] of [
    [{ name: '../bad', path: '/tmp' }, 'name'],
    [{ name: 'ok', path: '' }, 'path'],
    [{ name: 'ok', path: '/tmp', extra: 1 }, '(root)'],
  ] as const) {
    assert.throws(() => s.pools.add(input as never), (err: PiDriveError) => err.code === 'bad_request' && field in (err.fields ?? {}), JSON.stringify(input));
  }
  assert.deepEqual(s.pools.list().map((p) => p.name), ['local']);
});
