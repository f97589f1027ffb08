import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { pidrive, startDaemon } from '../../helpers/daemon.ts';
import { tempDir } from '../../helpers/tools.ts';

interface DriveJson {
  id: string;
  attached: boolean;
  lun: number | null;
  mode: string;
}

test('drive attach, detach, attach, eject through the running bridge\'s control socket (simulated gadget)', { timeout: 90_000 }, async (t) => {
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  const cli = (...args: string[]) => pidrive(dir, ['--data-dir', data, ...args]);
  const created = cli('drive', 'create', 'office', '--size', '8M', '--fs', 'none');
  assert.equal(created.code, 0, created.stderr);
  await startDaemon(t, data);
  const state = (): DriveJson => {
    const show = cli('drive', 'show', 'office', '--json');
    assert.equal(show.code, 0, show.stderr);
    return JSON.parse(show.stdout) as DriveJson;
  };

  const attached = cli('drive', 'attach', 'office', '--json');
  assert.equal(attached.code, 0, attached.stdout + attached.stderr);
  const a = JSON.parse(attached.stdout) as DriveJson;
  assert.deepEqual([a.id, a.attached, a.lun, a.mode], ['office', true, 0, 'read_write']);
  assert.equal(state().attached, true);

  const detached = cli('drive', 'detach', 'office', '--json');
  assert.equal(detached.code, 0, detached.stdout + detached.stderr);
  const d = JSON.parse(detached.stdout) as { drive: DriveJson; method: string };
  assert.equal(d.method, 'simulated');
  assert.deepEqual([d.drive.id, d.drive.attached, d.drive.lun], ['office', false, null]);
  assert.deepEqual([state().attached, state().lun], [false, null]);
  const again = cli('drive', 'detach', 'office', '--json');
  assert.equal(again.code, 0, again.stderr);
  assert.equal((JSON.parse(again.stdout) as { method: string }).method, 'none', 'detaching a detached drive does nothing and says so');

  const human = cli('drive', 'attach', 'office', '--mode', 'read_only');
  assert.equal(human.code, 0, human.stderr);
  assert.equal(human.stdout.trim(), 'office: attached (read_only)');
  assert.deepEqual([state().attached, state().mode], [true, 'read_only']);

  const ejected = cli('drive', 'eject', 'office', '--json');
  assert.equal(ejected.code, 0, ejected.stdout + ejected.stderr);
  const e = JSON.parse(ejected.stdout) as { drive: DriveJson; method: string };
  assert.equal(e.method, 'simulated');
  assert.equal(e.drive.attached, false);
  assert.deepEqual([state().attached, state().lun], [false, null]);
  assert.equal(cli('drive', 'attach', 'office').code, 0);
  const humanEject = cli('drive', 'eject', 'office');
  assert.equal(humanEject.code, 0, humanEject.stderr);
  assert.equal(humanEject.stdout.trim(), 'office: detached via simulated');

  const ghost = cli('drive', 'eject', 'ghost', '--json');
  assert.equal(ghost.code, 1);
  assert.equal((JSON.parse(ghost.stdout) as { error: { code: string } }).error.code, 'not_found');
  const badMode = cli('drive', 'attach', 'office', '--mode', 'floppy', '--json');
  assert.equal(badMode.code, 2, badMode.stdout + badMode.stderr);
  assert.deepEqual(Object.keys((JSON.parse(badMode.stdout) as { error: { fields: Record<string, string> } }).error.fields), ['mode']);
  assert.equal(state().attached, false, 'a refused attach changes nothing');
});
