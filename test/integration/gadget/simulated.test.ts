import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { ConfigSchema } from '../../../bridge/config/schema.ts';
import { systemClock } from '../../../bridge/core/clock.ts';
import { PiDriveError } from '../../../bridge/core/errors.ts';
import type { BusEvents } from '../../../bridge/core/event-bus.ts';
import { silentLogger as log } from '../../../bridge/core/logger.ts';
import { Attachments } from '../../../bridge/gadget/attachments.ts';
import { createGadget } from '../../../bridge/gadget/index.ts';
import { selectBackend } from '../../../bridge/gadget/select.ts';
import { SimulatedBackend } from '../../../bridge/gadget/simulated.ts';
import type { HostSample } from '../../../bridge/gadget/backend.ts';
import { LOCAL, openDrives } from '../../helpers/bridge.ts';
import { tempDir } from '../../helpers/tools.ts';

/**
 * The attachment state machine on the simulated backend with the real drive stack (SQLite,
 * pools, sparse images). The configfs backend runs the same code in test/kernel/.
 */

function setup(t: TestContext, gadget: Record<string, unknown> = {}) {
  const dataDir = tempDir(t);
  const stack = openDrives(dataDir);
  t.after(() => stack.close());
  const config = ConfigSchema.parse({ gadget: { backend: 'simulated', host_poll_ms: 100, ...gadget } });
  const events: Array<BusEvents['drive_event']> = [];
  stack.bus.on(events, 'drive_event', (e) => void events.push(e));
  const open = () => {
    const g = createGadget({ config, dataDir, log, bus: stack.bus, clock: systemClock, drives: stack.drives, events: stack.events });
    t.after(() => g.extension.stop());
    return g;
  };
  return { ...stack, events_repo: stack.events, dataDir, config, events, open };
}

async function code(p: Promise<unknown>): Promise<{ code: string; message: string; fields: Record<string, string> | undefined }> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof PiDriveError, String(err));
    return { code: err.code, message: err.message, fields: err.fields };
  }
  assert.fail('expected a PiDriveError');
}

test('attach, detach, eject on the simulated gadget keep the database, events and history in step', async (t) => {
  const s = setup(t);
  await s.drives.create({ id: 'office', size: '8M', fs: 'none' }, LOCAL);
  const { attachments, extension } = s.open();
  assert.equal((await code(attachments.attach('office'))).code, 'unavailable', 'refused before start');
  await extension.start();
  const info = attachments.info();
  assert.equal(info.backend, 'simulated');
  assert.match(info.reason, /simulated/);
  assert.equal(info.slots, 8);

  const attached = await attachments.attach('office');
  assert.deepEqual([attached.attached, attached.lun, attached.mode], [true, 0, 'read_write']);
  assert.deepEqual(await attachments.attach('office'), s.drives.get('office'), 'attaching twice is harmless');
  assert.equal(s.drives.view('office').host_connected, false, 'the simulation has no USB host');

  const detached = await attachments.detach('office');
  assert.equal(detached.method, 'simulated');
  assert.deepEqual([detached.drive.attached, detached.drive.lun], [false, null]);
  assert.equal((await attachments.detach('office')).method, 'none');
  await attachments.attach('office', { mode: 'read_only' });
  assert.equal(s.drives.get('office').mode, 'read_only');
  assert.equal((await attachments.eject('office')).method, 'simulated');

  assert.deepEqual(
    s.events.map((e) => [e.drive, e.event_type]),
    [['office', 'attached'], ['office', 'detached'], ['office', 'attached'], ['office', 'detached']],
  );
  const history = s.events_repo.list({ drives: ['office'] }).filter((e) => e.kind === 'state').map((e) => e.action);
  assert.deepEqual(history, ['drive.attached', 'drive.detached', 'drive.attached', 'drive.ejected']);
});

test('a drive whose image a restore is rewriting cannot be attached until it is done', async (t) => {
  const s = setup(t);
  await s.drives.create({ id: 'office', size: '8M', fs: 'none' }, LOCAL);
  const { attachments, extension } = s.open();
  await extension.start();
  let finish!: () => void;
  const gate = new Promise<void>((resolve) => (finish = resolve));
  const replacing = s.drives.replaceImage('office', async (tmp) => {
    fs.writeFileSync(tmp, Buffer.alloc(8 * 2 ** 20, 7));
    await gate;
  });
  const refused = await code(attachments.attach('office'));
  assert.deepEqual([refused.code, refused.fields], ['conflict', { id: 'busy' }]);
  assert.match(refused.message, /a restore is rewriting its image/);
  assert.equal(s.drives.get('office').attached, false);
  finish();
  await replacing;
  assert.equal((await attachments.attach('office')).attached, true);
});

test('modes change only while detached; bad input is refused with the field named', async (t) => {
  const s = setup(t);
  await s.drives.create({ id: 'docs', size: '8M', fs: 'none' }, LOCAL);
  const { attachments, extension } = s.open();
  await extension.start();
  const bad = await code(attachments.attach('docs', { mode: 'floppy' } as never));
  assert.equal(bad.code, 'bad_request');
  assert.deepEqual(Object.keys(bad.fields ?? {}), ['mode']);
  const extra = await code(attachments.attach('docs', { mode: 'read_only', force: true } as never));
  assert.equal(extra.code, 'bad_request');
  assert.equal((await code(attachments.setMode('docs', 'tape' as never))).code, 'bad_request');
  assert.equal((await code(attachments.attach('nope'))).code, 'not_found');

  await attachments.attach('docs');
  const whileAttached = await code(attachments.setMode('docs', 'read_only'));
  assert.equal(whileAttached.code, 'conflict');
  assert.match(whileAttached.message, /detach it before changing its mode/);
  assert.equal((await code(attachments.attach('docs', { mode: 'read_only' }))).code, 'conflict');
  assert.equal(s.drives.get('docs').mode, 'read_write', 'nothing half-applied');
  await attachments.detach('docs');
  assert.equal((await attachments.setMode('docs', 'read_only')).mode, 'read_only');
});

test('CD-ROM size limits of the kernel are enforced before anything is attached', async (t) => {
  const s = setup(t);
  await s.drives.create({ id: 'huge', size: '2400M', fs: 'none' }, LOCAL);
  await s.drives.create({ id: 'tiny', size: '512K', fs: 'none' }, LOCAL);
  await s.drives.create({ id: 'fine', size: '4M', fs: 'none' }, LOCAL);
  const { attachments, extension } = s.open();
  await extension.start();
  const big = await code(attachments.setMode('huge', 'cdrom'));
  assert.equal(big.code, 'too_large');
  assert.match(big.message, /2\.20 GiB \(2359293952 bytes\)/);
  assert.equal((await code(attachments.attach('huge', { mode: 'cdrom' }))).code, 'too_large');
  assert.equal(s.drives.get('huge').attached, false);
  assert.equal((await code(attachments.attach('tiny', { mode: 'cdrom' }))).code, 'bad_request');
  const cd = await attachments.attach('fine', { mode: 'cdrom' });
  assert.deepEqual([cd.mode, cd.attached], ['cdrom', true]);
});

test('slots run out with a clear refusal; a CD-ROM prefers a slot the host already knows as CD-ROM', async (t) => {
  const s = setup(t, { luns: 2 });
  for (const id of ['a', 'b', 'c']) await s.drives.create({ id, size: '4M', fs: 'none' }, LOCAL);
  const { attachments, extension } = s.open();
  await extension.start();
  await attachments.attach('a', { mode: 'cdrom' });
  await attachments.attach('b');
  const full = await code(attachments.attach('c'));
  assert.equal(full.code, 'conflict');
  assert.match(full.message, /all 2 drive slots are in use/);
  await attachments.detach('a');
  await attachments.detach('b');
  // Slot 0 was re-enumerated as a CD-ROM: a disk goes to slot 1, a CD-ROM back to slot 0.
  assert.equal((await attachments.attach('c')).lun, 1);
  assert.equal((await attachments.attach('a', { mode: 'cdrom' })).lun, 0);
});

test('a restart re-attaches what the database says is attached; a missing image is reported detached', async (t) => {
  const s = setup(t);
  await s.drives.create({ id: 'keep', size: '4M', fs: 'none' }, LOCAL);
  await s.drives.create({ id: 'lost', size: '4M', fs: 'none' }, LOCAL);
  const first = s.open();
  await first.extension.start();
  await first.attachments.attach('keep', { mode: 'read_only' });
  await first.attachments.attach('lost');
  await first.extension.stop();
  fs.rmSync(s.drives.imagePath(s.drives.get('lost')));
  s.events.length = 0;

  const second = s.open();
  await second.extension.start();
  const keep = s.drives.get('keep');
  assert.deepEqual([keep.attached, keep.mode, keep.lun], [true, 'read_only', 0]);
  assert.deepEqual(await second.attachments.attach('keep'), keep, 'already served after the restart');
  const lost = s.drives.get('lost');
  assert.deepEqual([lost.attached, lost.lun], [false, null]);
  const event = s.events.find((e) => e.drive === 'lost');
  assert.equal(event?.event_type, 'detached');
  assert.match(String(event?.reason), /missing/);
});

/** The simulated backend with a USB host that is always connected (a fake host: no kernel here). */
class FakeHostConnected extends SimulatedBackend {
  override async sampleHost(): Promise<HostSample> {
    return { udcState: 'configured', writeCounter: 0 };
  }
}

test('switching a slot between disk and CD-ROM is refused while the host uses a writable drive', async (t) => {
  const s = setup(t, { luns: 2 });
  for (const id of ['rw', 'iso']) await s.drives.create({ id, size: '4M', fs: 'none' }, LOCAL);
  const attachments = new Attachments({
    backend: new FakeHostConnected(2),
    selection: selectBackend(s.config.gadget),
    gadget: s.config.gadget,
    drives: s.drives,
    history: s.events_repo,
    bus: s.bus,
    clock: systemClock,
    log,
  });
  t.after(() => attachments.stop());
  await attachments.start();
  assert.equal(attachments.hostState().host_connected, true);
  await attachments.attach('rw');
  const refused = await code(attachments.attach('iso', { mode: 'cdrom' }));
  assert.equal(refused.code, 'conflict');
  assert.match(refused.message, /re-enumerate.*rw/);
  assert.equal(s.drives.get('iso').attached, false);
  await attachments.detach('rw');
  await attachments.attach('rw', { mode: 'read_only' });
  assert.equal((await attachments.attach('iso', { mode: 'cdrom' })).attached, true, 'fine next to a read-only drive');
});

test('configfs asked for on a machine without a USB device controller: createGadget refuses', (t) => {
  const dataDir = tempDir(t);
  const stack = openDrives(dataDir);
  t.after(() => stack.close());
  const config = ConfigSchema.parse({ gadget: { backend: 'configfs', sysfs_root: path.join(dataDir, 'no-sys') } });
  assert.throws(
    () => createGadget({ config, dataDir, log, bus: stack.bus, clock: systemClock, drives: stack.drives, events: stack.events }),
    (err: unknown) => err instanceof PiDriveError && err.code === 'unavailable' && /dtoverlay=dwc2/.test(err.message),
  );
});
