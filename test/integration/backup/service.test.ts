import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { pathToFileURL } from 'node:url';
import { createBackup } from '../../../bridge/backup/index.ts';
import type { BackupService } from '../../../bridge/backup/service.ts';
import type { Job } from '../../../bridge/backup/types.ts';
import { systemClock, type Clock } from '../../../bridge/core/clock.ts';
import { silentLogger } from '../../../bridge/core/logger.ts';
import { ConfigSchema, type ConfigInput } from '../../../bridge/config/schema.ts';
import type { HostState } from '../../../bridge/drives/model.ts';
import type { AttachmentControl } from '../../../bridge/gadget/types.ts';
import { LOCAL, openDrives } from '../../helpers/bridge.ts';
import { requireTool, tempDir } from '../../helpers/tools.ts';
import { isSparseLike, MiB, randomBytes, sameBytes, textBytes, writeAt } from './helpers.ts';

/**
 * FAKE host: a USB host writing through the gadget cannot run outside the QEMU kernel test, so the
 * consistency rule is fed host states by hand. Only hostState() is used by the backup module.
 */
function fakeHost(state: HostState): AttachmentControl & { set(s: Partial<HostState>): void } {
  const unused = (): never => {
    throw new Error('not used by the backup module');
  };
  return {
    attach: unused,
    detach: unused,
    eject: unused,
    setMode: unused,
    info: unused,
    hostState: () => ({ ...state }),
    set: (s) => void Object.assign(state, s),
  };
}

const IDLE_HOST: HostState = { host_connected: true, host_writing: false, host_idle_s: 60, write_rate_bps: 0 };

interface FixtureOptions {
  config?: Partial<ConfigInput>;
  attachments?: AttachmentControl | null;
  clock?: Clock;
  pools?: Record<string, { path: string }>;
}

function fixture(t: TestContext, dir: string, options: FixtureOptions = {}) {
  const data = path.join(dir, 'data');
  const s = openDrives(data, options.pools);
  const repoDir = path.join(dir, 'repo');
  fs.mkdirSync(repoDir, { recursive: true });
  const config = ConfigSchema.parse({
    repositories: { main: { url: pathToFileURL(repoDir).href } },
    backup: { gc_grace_hours: 0, idle_wait_s: 2 },
    gadget: { host_idle_s: 5 },
    pools: options.pools ?? {},
    ...options.config,
  });
  const { service, extension } = createBackup({
    config,
    dataDir: data,
    log: silentLogger,
    bus: s.bus,
    clock: options.clock ?? systemClock,
    store: s.store,
    events: s.events,
    drives: s.drives,
    attachments: options.attachments ?? null,
  });
  s.drives.setViewSources({ backupInfo: (id) => service.driveBackupInfo(id) });
  const jobs: Job[] = [];
  const driveEvents: Array<Record<string, unknown>> = [];
  const driveStates: string[] = [];
  s.bus.on(jobs, 'job', ({ job }) => void jobs.push(job as Job));
  s.bus.on(driveEvents, 'drive_event', (e) => void driveEvents.push(e));
  s.bus.on(driveStates, 'drive_state', (e) => void driveStates.push(e.id));
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await extension.stop();
    s.close();
  };
  t.after(stop);
  return { ...s, service: service as BackupService, extension, jobs, driveEvents, driveStates, stop, start: () => extension.start() };
}

/** A 64 MiB FAT32 drive with real files: documents that compress and a "clip" that does not. */
async function fatDrive(f: ReturnType<typeof fixture>, dir: string, id: string, seed: string, pool = 'local') {
  const drive = await f.drives.create({ id, size: '64M', fs: 'fat32', pool }, LOCAL);
  const files = path.join(dir, `files-${id}`);
  fs.mkdirSync(files, { recursive: true });
  fs.writeFileSync(path.join(files, 'notes.txt'), textBytes(`${seed}-notes`, 3 * MiB));
  fs.writeFileSync(path.join(files, 'clip.mp4'), randomBytes(`${seed}-clip`, 6 * MiB));
  execFileSync('mcopy', ['-i', `${drive.path}@@1M`, path.join(files, 'notes.txt'), path.join(files, 'clip.mp4'), '::/'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  return drive;
}

function mcopyInto(image: string, file: string, name: string): void {
  execFileSync('mcopy', ['-o', '-i', `${image}@@1M`, file, `::/${name}`], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
}

test('a backup job: queued, running with progress, succeeded; events, drive view and snapshot list follow', async (t) => {
  if (!requireTool(t, 'mkfs.vfat', 'mcopy')) return;
  const dir = tempDir(t);
  const f = fixture(t, dir);
  await f.start();
  const drive = await fatDrive(f, dir, 'cam', 'a');
  assert.equal(f.service.driveBackupInfo('cam').backup_state, 'idle');

  const job = f.service.startBackup('cam', { actor: 'user:ann' });
  assert.equal(job.state, 'queued');
  assert.equal(job.repository, 'main', 'the only repository is the default');
  assert.equal(f.service.startBackup('cam', { actor: 'user:bob' }).id, job.id, 'a backup already queued is not queued twice');
  const done = await f.service.waitForJob(job.id);
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  assert.equal(done.progress.percent, 100);
  const states = f.jobs.filter((j) => j.id === job.id).map((j) => j.state);
  assert.deepEqual([...new Set(states)], ['queued', 'running', 'succeeded']);
  const progress = f.jobs.filter((j) => j.id === job.id && j.state === 'running' && j.progress.bytes_total > 0);
  assert.ok(progress.length > 0, 'progress is published while running');
  assert.ok(progress.every((j) => j.progress.bytes_done <= j.progress.bytes_total && j.progress.rate_bps >= 0));

  const snap = done.result as { id: string; drive: string; new_bytes: number; changed_blocks: number; source: string };
  assert.equal(snap.drive, 'cam');
  assert.equal(snap.source, 'detached');
  const listed = await f.service.listSnapshots('cam');
  assert.deepEqual(listed.map((s) => s.id), [snap.id]);
  const events = f.driveEvents.filter((e) => e.drive === 'cam').map((e) => e.event_type);
  assert.deepEqual(events, ['backup_started', 'backup_completed']);
  assert.ok(f.driveStates.includes('cam'), 'drive_state is emitted so MQTT and the API re-read the drive');
  const view = f.drives.view('cam');
  assert.equal(view.last_backup, listed[0]!.time);
  assert.equal(view.last_backup_bytes, snap.new_bytes);
  assert.equal(view.backup_state, 'idle');
  assert.equal(view.suspicious_change, false);
  assert.ok(fs.readdirSync(path.dirname(drive.path)).every((n) => !n.startsWith('.pidrive-tmp.')), 'no clone or temporary file is left');
});

test('one job at a time: jobs of several drives run in order, never two at once', async (t) => {
  if (!requireTool(t, 'mkfs.vfat', 'mcopy')) return;
  const dir = tempDir(t);
  const f = fixture(t, dir);
  await fatDrive(f, dir, 'one', 'one');
  await fatDrive(f, dir, 'two', 'two');
  const a = f.service.startBackup('one', { actor: 'local' });
  const b = f.service.startBackup('two', { actor: 'local' });
  const c = f.service.startVerify({ actor: 'local' });
  await f.start();
  const results = await Promise.all([a, b, c].map((j) => f.service.waitForJob(j.id)));
  assert.deepEqual(results.map((r) => r.state), ['succeeded', 'succeeded', 'succeeded']);
  let running = 0;
  let peak = 0;
  const seen = new Map<string, string>();
  for (const j of f.jobs) {
    const before = seen.get(j.id);
    if (before !== j.state) {
      if (j.state === 'running') running++;
      if (before === 'running') running--;
      seen.set(j.id, j.state);
    }
    peak = Math.max(peak, running);
  }
  assert.equal(peak, 1);
  assert.ok(Date.parse(results[0]!.finished_at!) <= Date.parse(results[1]!.started_at!), 'FIFO order');
  assert.equal((results[2]!.result as { snapshots: number }).snapshots, 2);
});

test('cancel: a queued job is canceled at once, a running one stops without a snapshot', async (t) => {
  if (!requireTool(t, 'mkfs.vfat', 'mcopy')) return;
  const dir = tempDir(t);
  const f = fixture(t, dir, { config: { backup: { workers: 1, gc_grace_hours: 0 } } });
  const drive = await f.drives.create({ id: 'big', size: '512M', fs: 'none' }, LOCAL);
  writeAt(drive.path, 0, randomBytes('big', 256 * MiB));
  await f.start();
  const running = f.service.startBackup('big', { actor: 'local' });
  const queued = f.service.startVerify({ actor: 'local' });
  await new Promise<void>((resolve) => f.bus.on({}, 'job', ({ job }) => void (job.id === running.id && (job as Job).progress.bytes_done > 0 && resolve())));
  assert.equal(f.service.cancelJob(queued.id, 'local').state, 'canceled');
  f.service.cancelJob(running.id, 'local');
  const end = await f.service.waitForJob(running.id);
  assert.equal(end.state, 'canceled');
  assert.deepEqual(await f.service.listSnapshots('big'), []);
  assert.equal(f.service.driveBackupInfo('big').backup_state, 'idle', 'a canceled backup is no failure of the drive');
  assert.ok(f.driveEvents.some((e) => e.drive === 'big' && e.event_type === 'backup_failed' && e.error === 'canceled'));
  assert.throws(() => f.service.cancelJob(running.id, 'local'), /already been canceled/);
});

test('restore into a new drive and in place: byte-identical, sparse, registered; in place refused while attached', async (t) => {
  if (!requireTool(t, 'mkfs.vfat', 'mcopy', 'cmp')) return;
  const dir = tempDir(t);
  const f = fixture(t, dir);
  await f.start();
  const drive = await fatDrive(f, dir, 'docs', 'r');
  const v1 = path.join(dir, 'v1.img');
  fs.copyFileSync(drive.path, v1);
  const first = await f.service.waitForJob(f.service.startBackup('docs', { actor: 'local' }).id);
  assert.equal(first.state, 'succeeded');

  fs.writeFileSync(path.join(dir, 'new.txt'), textBytes('changed', 2 * MiB));
  mcopyInto(drive.path, path.join(dir, 'new.txt'), 'notes.txt');
  const v2 = path.join(dir, 'v2.img');
  fs.copyFileSync(drive.path, v2);
  const second = await f.service.waitForJob(f.service.startBackup('docs', { actor: 'local' }).id);
  assert.ok((second.result as { changed_blocks: number }).changed_blocks > 0);

  const firstId = (first.result as { id: string }).id;
  const copy = await f.service.waitForJob(f.service.startRestore('docs', firstId, { target: { kind: 'new_drive', drive: 'docs-old' }, actor: 'user:op' }).id);
  assert.equal(copy.state, 'succeeded', JSON.stringify(copy.error));
  const restored = f.drives.get('docs-old');
  assert.equal(restored.source, 'restored');
  assert.equal(restored.filesystem, 'fat32');
  const restoredPath = f.drives.imagePath(restored);
  assert.ok(sameBytes(restoredPath, v1));
  assert.ok(isSparseLike(restoredPath, v1));
  assert.throws(() => f.service.startRestore('docs', firstId, { target: { kind: 'new_drive', drive: 'docs-old' }, actor: 'x' }), /already exists/);

  // In place: the drive goes back to the first snapshot.
  const back = await f.service.waitForJob(f.service.startRestore('docs', firstId, { target: { kind: 'in_place' }, actor: 'user:admin' }).id);
  assert.equal(back.state, 'succeeded', JSON.stringify(back.error));
  assert.ok(sameBytes(drive.path, v1));
  const latest = await f.service.waitForJob(f.service.startRestore('docs', 'latest', { target: { kind: 'in_place' }, actor: 'user:admin' }).id);
  assert.equal(latest.state, 'succeeded');
  assert.ok(sameBytes(drive.path, v2));

  f.drives.setRuntime('docs', { attached: true });
  assert.throws(() => f.service.startRestore('docs', 'latest', { target: { kind: 'in_place' }, actor: 'x' }), /attached; detach it/);
  // An image PiDrive only references (the user's own file) is never overwritten by a restore.
  const owned = path.join(path.dirname(drive.path), 'user.iso');
  fs.writeFileSync(owned, Buffer.alloc(MiB, 5));
  await f.drives.import({ id: 'ref', from: owned, mode: 'reference' }, LOCAL);
  assert.throws(() => f.service.startRestore('ref', 'latest', { repository: 'main', target: { kind: 'in_place' }, actor: 'x' }), /references an image PiDrive does not own/);
  assert.ok(fs.readFileSync(owned).equals(Buffer.alloc(MiB, 5)));
  const bad = await f.service.waitForJob(f.service.startRestore('docs', 'nope', { target: { kind: 'new_drive', drive: 'x1' }, actor: 'x' }).id);
  assert.equal(bad.state, 'failed');
  assert.match(bad.error!.message, /not a snapshot id/);
  assert.equal(f.drives.find('x1'), null, 'a failed restore registers no drive');
});

test('consistency: an attached drive is refused offline, waits for an idle host, and needs a reflink-capable pool', async (t) => {
  if (!requireTool(t, 'mkfs.vfat', 'mcopy')) return;
  const dir = tempDir(t);
  const host = fakeHost({ ...IDLE_HOST, host_writing: true, host_idle_s: 0 });
  const f = fixture(t, dir, { attachments: host });
  await f.start();
  await fatDrive(f, dir, 'car', 'c');
  f.drives.setRuntime('car', { attached: true });

  const started = Date.now();
  const writing = await f.service.waitForJob(f.service.startBackup('car', { actor: 'local' }).id);
  assert.equal(writing.state, 'failed');
  assert.match(writing.error!.message, /host kept writing to drive "car".*when the host is idle, or detach the drive/);
  assert.ok(Date.now() - started >= 1900, 'it waited idle_wait_s for an idle window');

  // Idle host, but the local pool is on ext4 here: no instant clone, so no backup of a live drive.
  host.set({ host_writing: false, host_idle_s: 60 });
  const ext4 = await f.service.waitForJob(f.service.startBackup('car', { actor: 'local' }).id);
  const fsType = execFileSync('stat', ['-f', '-c', '%T', path.join(dir, 'data', 'images')], { encoding: 'utf8' }).trim();
  if (fsType === 'xfs' || fsType === 'btrfs') assert.equal(ext4.state, 'succeeded');
  else {
    assert.equal(ext4.state, 'failed');
    assert.equal(ext4.error!.code, 'unsupported');
    assert.match(ext4.error!.message, /cannot make instant reflink copies.*pidrive drive detach car.*XFS/);
  }
  assert.equal(f.service.driveBackupInfo('car').backup_state, 'failed');
  assert.deepEqual(await f.service.listSnapshots('car'), []);
});

test('consistency: offline (no bridge watching the host) an attached drive is refused with what to do', async (t) => {
  if (!requireTool(t, 'mkfs.vfat', 'mcopy')) return;
  const dir = tempDir(t);
  const f = fixture(t, dir, { attachments: null });
  await f.start();
  await fatDrive(f, dir, 'car', 'o');
  f.drives.setRuntime('car', { attached: true });
  const job = await f.service.waitForJob(f.service.startBackup('car', { actor: 'local' }).id);
  assert.equal(job.state, 'failed');
  assert.match(job.error!.message, /attached and the bridge is not running.*detach the drive/);
});

test('consistency: on an XFS pool an attached drive is backed up from a reflink clone taken while the host is idle', async (t) => {
  if (!requireTool(t, 'mkfs.xfs', 'mkfs.vfat', 'mcopy', 'mount', 'umount', 'cmp')) return;
  if (process.getuid?.() !== 0) {
    t.skip('needs root to loop-mount an XFS filesystem');
    return;
  }
  // Not tempDir(): the XFS mount must be gone before the directory is removed.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidrive-xfs-'));
  const xfsImage = path.join(dir, 'xfs.img');
  fs.writeFileSync(xfsImage, '');
  fs.truncateSync(xfsImage, 512 * MiB);
  execFileSync('mkfs.xfs', ['-q', '-m', 'reflink=1', xfsImage]);
  const mnt = path.join(dir, 'xfs');
  fs.mkdirSync(mnt);
  execFileSync('mount', ['-o', 'loop', xfsImage, mnt]);
  t.after(() => {
    execFileSync('umount', [mnt]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const host = fakeHost({ ...IDLE_HOST });
  const f = fixture(t, dir, { attachments: host, pools: { fast: { path: mnt } } });
  await f.start();
  const drive = await fatDrive(f, dir, 'car', 'x', 'fast');
  f.drives.setRuntime('car', { attached: true });
  const frozen = path.join(dir, 'frozen.img');
  fs.copyFileSync(drive.path, frozen);
  const job = await f.service.waitForJob(f.service.startBackup('car', { actor: 'local' }).id);
  assert.equal(job.state, 'succeeded', JSON.stringify(job.error));
  assert.equal((job.result as { source: string }).source, 'reflink');
  assert.ok(fs.readdirSync(mnt).every((n) => !n.startsWith('.pidrive-tmp.')), 'the clone is removed');
  const copy = await f.service.waitForJob(f.service.startRestore('car', 'latest', { target: { kind: 'new_drive', drive: 'car-copy', pool: 'local' }, actor: 'local' }).id);
  assert.equal(copy.state, 'succeeded', JSON.stringify(copy.error));
  assert.ok(sameBytes(f.drives.imagePath(f.drives.get('car-copy')), frozen));
});

test('change signal: documents rewritten as random bytes (ransomware) set suspicious_change; a video drive does not', async (t) => {
  if (!requireTool(t, 'mkfs.vfat', 'mcopy')) return;
  const dir = tempDir(t);
  const f = fixture(t, dir, { config: { backup: { suspicious_min_blocks: 4, suspicious_change_ratio: 0.5, gc_grace_hours: 0 } } });
  await f.start();
  const backup = async (id: string) => {
    const job = await f.service.waitForJob(f.service.startBackup(id, { actor: 'local' }).id);
    assert.equal(job.state, 'succeeded', JSON.stringify(job.error));
    return job.result as { suspicious_change: boolean; incompressible_ratio: number; changed_blocks: number };
  };
  const docs = await f.drives.create({ id: 'docs', size: '64M', fs: 'fat32' }, LOCAL);
  const cam = await f.drives.create({ id: 'cam', size: '64M', fs: 'fat32' }, LOCAL);
  for (let i = 0; i < 3; i++) {
    fs.writeFileSync(path.join(dir, `d${i}.txt`), textBytes(`doc${i}`, 4 * MiB));
    mcopyInto(docs.path, path.join(dir, `d${i}.txt`), `d${i}.txt`);
    fs.writeFileSync(path.join(dir, `c${i}.mp4`), randomBytes(`clip${i}`, 4 * MiB));
    mcopyInto(cam.path, path.join(dir, `c${i}.mp4`), `c${i}.mp4`);
  }
  await backup('docs');
  await backup('cam');
  // Normal work: more documents; more clips.
  fs.writeFileSync(path.join(dir, 'd3.txt'), textBytes('doc3', 6 * MiB));
  mcopyInto(docs.path, path.join(dir, 'd3.txt'), 'd3.txt');
  fs.writeFileSync(path.join(dir, 'c3.mp4'), randomBytes('clip3', 6 * MiB));
  mcopyInto(cam.path, path.join(dir, 'c3.mp4'), 'c3.mp4');
  assert.equal((await backup('docs')).suspicious_change, false);
  const clips = await backup('cam');
  assert.ok(clips.incompressible_ratio > 0.5, 'clips do not compress');
  assert.equal(clips.suspicious_change, false, 'a drive that always holds video is not suspicious');
  // Ransomware: every document rewritten in place as ciphertext.
  for (let i = 0; i < 4; i++) {
    fs.writeFileSync(path.join(dir, `e${i}`), randomBytes(`enc${i}`, fs.statSync(path.join(dir, `d${i}.txt`)).size));
    mcopyInto(docs.path, path.join(dir, `e${i}`), `d${i}.txt`);
  }
  const encrypted = await backup('docs');
  assert.ok(encrypted.changed_blocks >= 4);
  assert.equal(encrypted.suspicious_change, true);
  assert.equal(f.drives.view('docs').suspicious_change, true);
  assert.equal(f.drives.view('cam').suspicious_change, false);
});

/** A Clock moved by hand; its timers never fire on their own (the scheduler also ticks at start). */
function manualClock(start: string): Clock & { advance(ms: number): void } {
  let now = Date.parse(start);
  return {
    now: () => new Date(now),
    monotonicMs: () => now,
    setTimeout: () => ({ cancel: () => {} }),
    advance: (ms) => void (now += ms),
  };
}

test('schedules: validated by field; a run missed while the bridge was down runs once at start, then prunes by its keep policy', async (t) => {
  if (!requireTool(t, 'mkfs.vfat', 'mcopy')) return;
  const dir = tempDir(t);
  const clock = manualClock('2025-06-01T12:00:00Z');
  const a = fixture(t, dir, { clock });
  await fatDrive(a, dir, 'cam', 's');
  const fields = (fn: () => unknown): Record<string, string> => {
    try {
      fn();
    } catch (err) {
      return (err as { fields: Record<string, string> }).fields;
    }
    assert.fail('expected a refusal');
  };
  assert.ok('cron' in fields(() => a.service.addSchedule({ drives: ['cam'], cron: '61 * * * *', repository: 'main' }, 'local')));
  assert.ok('timezone' in fields(() => a.service.addSchedule({ drives: ['cam'], cron: '0 3 * * *', timezone: 'Mars/Olympus', repository: 'main' }, 'local')));
  assert.ok('drives' in fields(() => a.service.addSchedule({ drives: ['nope'], cron: '0 3 * * *', repository: 'main' }, 'local')));
  assert.ok('repository' in fields(() => a.service.addSchedule({ drives: ['cam'], cron: '0 3 * * *', repository: 'elsewhere' }, 'local')));
  assert.ok('drives' in fields(() => a.service.addSchedule({ drives: [], cron: '0 3 * * *', repository: 'main' }, 'local')));

  const s = a.service.addSchedule({ drives: ['cam'], cron: '0 3 * * *', timezone: 'Europe/Berlin', repository: 'main', keep: { last: 1 } }, 'local');
  assert.equal(s.next_run, '2025-06-02T01:00:00.000Z', '03:00 in Berlin (CEST) is 01:00 UTC');
  assert.equal(a.service.updateSchedule(s.id, { cron: '30 3 * * *' }, 'local').cron, '30 3 * * *');
  await a.stop();

  // Three nightly slots pass while the bridge is down: one run at start, not three.
  clock.advance(3 * 86_400_000);
  const b = fixture(t, dir, { clock });
  await b.start();
  const jobs = b.service.listJobs();
  assert.deepEqual(jobs.map((j) => [j.type, j.actor]).reverse(), [
    ['backup', `schedule:${s.id}`],
    ['prune', `schedule:${s.id}`],
  ]);
  const done = await Promise.all(jobs.map((j) => b.service.waitForJob(j.id)));
  assert.ok(done.every((j) => j.state === 'succeeded'), JSON.stringify(done.map((j) => j.error)));
  const listed = b.service.listSchedules().find((x) => x.id === s.id)!;
  assert.equal(listed.last_run, clock.now().toISOString());
  assert.equal(listed.next_run, '2025-06-05T01:30:00.000Z');
  await b.stop();

  // Nothing missed: a restart runs nothing.
  const c = fixture(t, dir, { clock });
  await c.start();
  assert.equal(c.service.listJobs({ state: 'queued' }).length, 0);
  c.service.removeSchedule(s.id, 'local');
  assert.equal(c.service.listSchedules().length, 0);
});

test('schedules from the configuration: a bad cron stops the start; a new one does not fire for past slots', async (t) => {
  const dir = tempDir(t);
  const bad = fixture(t, dir, { config: { schedules: [{ drives: ['cam'], cron: 'every night', repository: 'main' }] } });
  await assert.rejects(bad.start(), (err: Error & { code?: string; fields?: Record<string, string> }) => {
    assert.equal(err.code, 'invalid_config');
    assert.ok(err.fields && 'schedules.0.cron' in err.fields);
    return true;
  });
  await bad.stop();
  const good = fixture(t, tempDir(t), { config: { schedules: [{ drives: ['cam'], cron: '* * * * *', repository: 'main' }] } });
  await good.start();
  const [s] = good.service.listSchedules();
  assert.equal(s!.origin, 'config');
  assert.match(s!.id, /^config-[0-9a-f]{8}$/);
  assert.equal(good.service.listJobs().length, 0);
  assert.throws(() => good.service.removeSchedule(s!.id, 'local'), /configuration file/);
});

test('queued jobs survive a restart; a failed verify reports the damage in its result', async (t) => {
  if (!requireTool(t, 'mkfs.vfat', 'mcopy')) return;
  const dir = tempDir(t);
  const a = fixture(t, dir);
  await fatDrive(a, dir, 'cam', 'p');
  const queued = a.service.startBackup('cam', { actor: 'local' });
  await a.stop();
  const b = fixture(t, dir);
  await b.start();
  assert.equal((await b.service.waitForJob(queued.id)).state, 'succeeded');

  const chunks = path.join(dir, 'repo', 'chunks');
  const sub = path.join(chunks, fs.readdirSync(chunks).find((n) => !n.startsWith('.'))!);
  const victim = path.join(sub, fs.readdirSync(sub)[0]!);
  fs.writeFileSync(victim, Buffer.concat([Buffer.of(0), Buffer.from('not the data')]));
  const verify = await b.service.waitForJob(b.service.startVerify({ actor: 'local' }).id);
  assert.equal(verify.state, 'failed');
  assert.match(verify.error!.message, /1 damaged chunk/);
  const report = verify.result as { corrupt: Array<{ chunk: string; problem: string; snapshots: unknown[] }> };
  assert.equal(report.corrupt[0]!.chunk, path.basename(victim));
  assert.equal(report.corrupt[0]!.problem, 'hash_mismatch');
  assert.equal(report.corrupt[0]!.snapshots.length, 1);
  assert.throws(() => b.service.startVerify({ samplePercent: 0, actor: 'local' }), /sample/);
});
