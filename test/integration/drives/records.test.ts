import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { PiDriveError } from '../../../bridge/core/errors.ts';
import { TEMP_PREFIX } from '../../../bridge/drives/schema.ts';
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

test('replacing an image: the old one stays whole until the new one is complete; the drive is busy meanwhile', async (t) => {
  const dir = tempDir(t);
  const s = openDrives(dir);
  t.after(s.close);
  await s.drives.create({ id: 'disk', size: '8M', fs: 'none' }, LOCAL);
  const image = s.drives.imagePath(s.drives.get('disk'));
  fs.writeFileSync(image, Buffer.alloc(8 * 2 ** 20, 1));
  const temporaries = () => fs.readdirSync(path.dirname(image)).filter((f) => f.startsWith(TEMP_PREFIX));

  // A failing fill leaves the old image, no temporary file and no journalled operation.
  await assert.rejects(
    s.drives.replaceImage('disk', async (tmp) => {
      fs.writeFileSync(tmp, Buffer.alloc(1024, 2));
      throw new Error('source unreadable');
    }),
    /source unreadable/,
  );
  assert.ok(fs.readFileSync(image).equals(Buffer.alloc(8 * 2 ** 20, 1)));
  assert.deepEqual(temporaries(), []);

  // While a replacement runs, removing, resizing or replacing the drive again is refused as busy.
  let finish!: () => void;
  const gate = new Promise<void>((resolve) => (finish = resolve));
  const running = s.drives.replaceImage('disk', async (tmp) => {
    fs.writeFileSync(tmp, Buffer.alloc(12 * 2 ** 20, 3));
    await gate;
  });
  const busy = (err: unknown) => err instanceof PiDriveError && err.code === 'conflict' && err.fields?.id === 'busy';
  await assert.rejects(s.drives.remove('disk', {}, LOCAL), busy);
  await assert.rejects(s.drives.resize('disk', '16M', LOCAL), busy);
  await assert.rejects(s.drives.replaceImage('disk', async () => {}), busy);
  assert.ok(fs.readFileSync(image).equals(Buffer.alloc(8 * 2 ** 20, 1)), 'the old image is untouched until the end');
  finish();
  const replaced = await running;
  // An attach in progress holds the drive too: a restore cannot swap the image the kernel is opening.
  await s.drives.attaching('disk', async () => {
    await assert.rejects(s.drives.replaceImage('disk', async () => {}), (err: unknown) => busy(err) && /being attached/.test((err as Error).message));
  });
  assert.equal(replaced.size_bytes, 12 * 2 ** 20, 'the drive takes the size of its new image');
  assert.ok(fs.readFileSync(image).equals(Buffer.alloc(12 * 2 ** 20, 3)));
  assert.deepEqual(temporaries(), []);
  await s.drives.remove('disk', {}, LOCAL);
  assert.equal(fs.existsSync(image), false);
});
