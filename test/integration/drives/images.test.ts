import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { LOCAL, openDrives } from '../../helpers/bridge.ts';
import { allocated, extractPartition } from '../../helpers/images.ts';
import { requireTool, run, tempDir } from '../../helpers/tools.ts';

test('a FAT32 drive passes fsck.vfat, mtools reads its label, and only metadata is allocated', async (t) => {
  if (!requireTool(t, 'mkfs.vfat', 'fsck.vfat', 'mdir', 'blkid')) return;
  const dir = tempDir(t);
  const s = openDrives(dir);
  t.after(s.close);
  const drive = await s.drives.create({ id: 'usb1', size: '64M', fs: 'fat32', label: 'PIDRIVE1' }, LOCAL);
  assert.equal(drive.size_bytes, 64 * 2 ** 20);
  assert.equal(fs.statSync(drive.path).size, 64 * 2 ** 20);
  assert.ok(allocated(drive.path) < drive.size_bytes / 4, `allocated ${allocated(drive.path)} of ${drive.size_bytes}`);
  const part = extractPartition(drive.path, path.join(dir, 'part.img'));
  run('fsck.vfat', ['-n', part]);
  const listing = run('mdir', ['-i', `${drive.path}@@1M`, '::/'], {});
  assert.match(listing, /Volume in drive : is PIDRIVE1/);
  const table = run('sfdisk', ['--dump', drive.path]);
  assert.match(table, /start=\s*2048, size=\s*129024, type=c/);
});

test('an exFAT drive passes fsck.exfat and carries its label', async (t) => {
  if (!requireTool(t, 'mkfs.exfat', 'fsck.exfat', 'blkid', 'sfdisk')) return;
  const dir = tempDir(t);
  const s = openDrives(dir);
  t.after(s.close);
  const drive = await s.drives.create({ id: 'media', size: '64M', fs: 'exfat', label: 'MEDIA' }, LOCAL);
  const part = extractPartition(drive.path, path.join(dir, 'part.img'));
  run('fsck.exfat', ['-n', part]);
  assert.match(run('blkid', ['-p', '-o', 'export', '-O', String(2 ** 20), drive.path]), /LABEL=MEDIA[\s\S]*TYPE=exfat/);
  assert.match(run('sfdisk', ['--dump', drive.path]), /start=\s*2048, size=\s*129024, type=7/);
});

test('a 32 GiB drive is created quickly and allocates only filesystem metadata', async (t) => {
  if (!requireTool(t, 'mkfs.exfat', 'mkfs.vfat')) return;
  const s = openDrives(tempDir(t));
  t.after(s.close);
  for (const fsType of ['exfat', 'fat32'] as const) {
    const drive = await s.drives.create({ id: `big-${fsType}`, size: '32G', fs: fsType }, LOCAL);
    assert.equal(drive.size_bytes, 32 * 2 ** 30);
    // FAT32's two allocation tables are the largest metadata: about 16 MiB for 32 GiB.
    assert.ok(drive.allocated_bytes < 32 * 2 ** 20, `${fsType}: allocated ${drive.allocated_bytes}`);
  }
});

test('--fs none gives a bare sparse disk without a partition table', async (t) => {
  const s = openDrives(tempDir(t));
  t.after(s.close);
  const drive = await s.drives.create({ id: 'raw', size: '16M', fs: 'none' }, LOCAL);
  assert.equal(drive.partition, 'none');
  assert.equal(drive.allocated_bytes, 0);
  assert.ok(fs.readFileSync(drive.path).subarray(0, 512).every((b) => b === 0));
});

test('import --mode copy keeps the image sparse and byte-identical; reference keeps it in place', async (t) => {
  if (!requireTool(t, 'mkfs.vfat', 'blkid')) return;
  const dir = tempDir(t);
  const nas = path.join(dir, 'nas');
  fs.mkdirSync(nas);
  const s = openDrives(path.join(dir, 'data'));
  t.after(s.close);
  s.pools.add({ name: 'nas', path: nas });
  const src = await s.drives.create({ id: 'src', size: '256M', fs: 'fat32', label: 'SRC', pool: 'nas' }, LOCAL);
  const fd = fs.openSync(src.path, 'r+');
  fs.writeSync(fd, Buffer.alloc(3 * 2 ** 20, 0xab), 0, 3 * 2 ** 20, 100 * 2 ** 20);
  fs.closeSync(fd);

  const copy = await s.drives.import({ id: 'copy', from: src.path }, LOCAL);
  assert.equal(copy.pool, 'local');
  assert.equal(copy.source, 'copied');
  assert.equal(copy.filesystem, 'fat32');
  assert.equal(copy.label, 'SRC');
  assert.equal(copy.partition, 'mbr');
  run('cmp', [src.path, copy.path]);
  assert.ok(copy.allocated_bytes <= allocated(src.path), `copy ${copy.allocated_bytes} > source ${allocated(src.path)}`);
  assert.ok(copy.allocated_bytes < 32 * 2 ** 20);

  const iso = path.join(nas, 'installer.iso');
  fs.writeFileSync(iso, Buffer.alloc(1024 * 1024, 1));
  const ref = await s.drives.import({ id: 'installer', from: iso, mode: 'reference', cdrom: true }, LOCAL);
  assert.equal(ref.path, fs.realpathSync(iso));
  assert.equal(ref.mode, 'cdrom');
  await s.drives.remove('installer', {}, LOCAL);
  assert.ok(fs.existsSync(iso), 'a referenced image belongs to the user and survives rm');
  await assert.rejects(s.drives.import({ id: 'outside', from: path.join(dir, 'data', 'pidrive.db'), mode: 'reference' }, LOCAL), /not inside a pool/);
});

test('resize grows the image and its partition, refuses to shrink and refuses while attached', async (t) => {
  if (!requireTool(t, 'mkfs.vfat', 'sfdisk')) return;
  const s = openDrives(tempDir(t));
  t.after(s.close);
  await s.drives.create({ id: 'grow', size: '64M' }, LOCAL);
  const { drive, notes } = await s.drives.resize('grow', '128M', LOCAL);
  assert.equal(drive.size_bytes, 128 * 2 ** 20);
  assert.equal(fs.statSync(drive.path).size, 128 * 2 ** 20);
  assert.match(run('sfdisk', ['--dump', drive.path]), /start=\s*2048, size=\s*260096, type=c/);
  assert.ok(notes.some((n) => /fat32 filesystem keeps its old size/.test(n)));
  await assert.rejects(s.drives.resize('grow', '64M', LOCAL), /only grow/);
  s.drives.setRuntime('grow', { attached: true, lun: 0 });
  await assert.rejects(s.drives.resize('grow', '256M', LOCAL), /attached/);
  await assert.rejects(s.drives.remove('grow', {}, LOCAL), /attached/);
});

test('bad input is refused with the field named and nothing is created', async (t) => {
  const dir = tempDir(t);
  const s = openDrives(dir);
  t.after(s.close);
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ id: 'x', size: '0' }, 'size'],
    [{ id: 'x', size: '1000' }, 'size'],
    [{ id: 'x', size: '3T' }, 'size'],
    [{ id: 'x', size: '16M', fs: 'ntfs' }, 'fs'],
    [{ id: 'x', size: '16M', fs: 'fat32' }, 'size'],
    [{ id: 'x', size: '64M', fs: 'fat32', label: 'MUCH TOO LONG LABEL' }, 'label'],
    [{ id: 'x', size: '64M', pool: 'nope' }, 'pool'],
    [{ id: 'x', size: '64M', surprise: true }, '(root)'],
  ];
  for (const [input, field] of cases) {
    await assert.rejects(
      s.drives.create(input as never, LOCAL),
      (err: { fields?: Record<string, string> }) => {
        assert.ok(err.fields && field in err.fields, `${JSON.stringify(input)}: fields ${JSON.stringify(err.fields)}`);
        return true;
      },
    );
  }
  assert.deepEqual(s.drives.list(), []);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'images')).filter((f) => !f.startsWith('.pidrive-pool')), []);
});

test('a pool whose mount is missing is unavailable and never recreated', async (t) => {
  const dir = tempDir(t);
  const nas = path.join(dir, 'nas');
  fs.mkdirSync(nas);
  const s = openDrives(path.join(dir, 'data'));
  t.after(s.close);
  s.pools.add({ name: 'nas', path: nas });
  await s.drives.create({ id: 'onnas', size: '8M', fs: 'none', pool: 'nas' }, LOCAL);
  // The NAS goes away: its mount point is an empty directory again.
  fs.rmSync(nas, { recursive: true });
  fs.mkdirSync(nas);
  const pool = s.pools.get('nas');
  assert.equal(pool.available, false);
  assert.match(pool.reason ?? '', /marker/);
  assert.equal(s.drives.view('onnas').available, false);
  await assert.rejects(s.drives.create({ id: 'other', size: '8M', fs: 'none', pool: 'nas' }, LOCAL), /unavailable/);
  assert.deepEqual(fs.readdirSync(nas), []);
  await assert.rejects(s.drives.remove('onnas', {}, LOCAL), /--force/);
  await s.drives.remove('onnas', { force: true }, LOCAL);
  assert.equal(s.drives.find('onnas'), null);
});

test('free space is checked before creating', async (t) => {
  const s = openDrives(tempDir(t));
  t.after(s.close);
  const free = s.pools.get('local').free_bytes!;
  const tooBig = Math.min(2 ** 41, Math.ceil((free + 2 ** 30) / 2 ** 20) * 2 ** 20);
  if (tooBig >= 2 ** 41) return t.skip('pool has more than 2 TiB free');
  await assert.rejects(s.drives.create({ id: 'huge', size: tooBig, fs: 'none' }, LOCAL), (e: { code: string }) => e.code === 'insufficient_space');
});
