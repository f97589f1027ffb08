/**
 * Runs inside the QEMU guest (see ../vm.ts): the real bridge daemon drives the guest kernel's
 * configfs gadget on dummy_udc.0, and every check looks at the result from the host side of the
 * same kernel (usb-storage → sd/sr devices, /sys/block, /proc/partitions, mounts, reads, writes).
 * Usage: node scenario.ts <out-dir>
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigSchema } from '../../../bridge/config/schema.ts';
import { createLogger } from '../../../bridge/core/logger.ts';
import { ConfigfsBackend } from '../../../bridge/gadget/configfs.ts';
import { MediumLocked } from '../../../bridge/gadget/backend.ts';
import { BridgeProcess } from './bridge.ts';
import { CHECKS } from './checks.ts';
import { deviceForLun, hostEject, isNoMedium, mount, mounted, probeMedium, sh, umount, waitFor, waitMedium, waitNoMedium } from './host-side.ts';
import { Report, assert } from './report.ts';

const outDir = process.argv[2]!;
const report = new Report(outDir);
const MiB = 1024 * 1024;
const GADGET = '/sys/kernel/config/usb_gadget/pidrive';
const FN = `${GADGET}/functions/mass_storage.0`;
const DATA = '/tmp/pidrive-data';
const bridge = new BridgeProcess(
  DATA,
  path.join(outDir, 'bridge.log'),
  `bridge:
  id: kvm
http:
  host: 127.0.0.1
  port: 0
embedded_broker:
  host: 127.0.0.1
  port: 0
gadget:
  backend: configfs
  luns: 4
  host_poll_ms: 200
  host_idle_s: 2
log:
  level: debug
`,
);

const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');
const drive = (id: string): Promise<any> => bridge.ok('GET', `/drives/${id}`);
/** History rows after `since` (paged to the end). */
async function eventsSince(since: number): Promise<any[]> {
  const all: any[] = [];
  for (;;) {
    const page: any[] = await bridge.ok('GET', `/events?since=${since}&limit=1000`);
    all.push(...page);
    if (page.length < 1000) return all;
    since = page.at(-1).id;
  }
}
let writesStoppedAt = 0;
/** mtools on the image's FAT partition (at 1 MiB): the bridge side, while the drive is detached. */
const mtoolsImage = (image: string): string => `${image}@@1M`;
const mtools = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });

async function main(): Promise<void> {
  await bridge.start();
  fs.mkdirSync('/tmp/host', { recursive: true });

  await report.check(CHECKS.gadgetBuilt, async () => {
    const info = await bridge.ok('GET', '/bridge');
    assert(info.gadget_backend === 'configfs', `backend ${info.gadget_backend}`);
    assert(info.udc === 'dummy_udc.0', `udc ${info.udc}`);
    assert(info.max_luns === 16, `max_luns ${info.max_luns} (Linux 6.1 has 16)`);
    assert(info.capabilities.forced_eject && info.capabilities.inquiry_string && info.capabilities.soft_connect, `capabilities ${JSON.stringify(info.capabilities)}`);
    assert(fs.readFileSync(`${GADGET}/UDC`, 'utf8').trim() === 'dummy_udc.0', 'gadget not bound');
    const luns = fs.readdirSync(FN).filter((e) => e.startsWith('lun.'));
    assert(luns.length === 4, `LUN slots ${luns.join(',')}`);
    assert(!fs.existsSync(`${GADGET}-probe`), 'the scratch probe gadget was left behind');
    const devs = await waitFor('4 host devices', 15000, () => {
      const d = [0, 1, 2, 3].map(deviceForLun);
      return d.every(Boolean) ? d : null;
    });
    const connected = await waitFor('host_connected in GET /bridge', 10000, async () => (await bridge.ok('GET', '/bridge')).host_connected === true);
    return { info, devs, connected };
  });

  const disk1 = await bridge.ok('POST', '/drives', { id: 'disk1', size: '64M', fs: 'fat32', label: 'DISK1' });
  const disk2 = await bridge.ok('POST', '/drives', { id: 'disk2', size: '48M', fs: 'fat32', label: 'DISK2' });
  const hello = `written on the bridge side ${crypto.randomUUID()}\n`;
  fs.writeFileSync('/tmp/hello.txt', hello);
  mtools('mcopy', ['-i', mtoolsImage(disk1.path), '/tmp/hello.txt', '::HELLO.TXT']);

  let lun1 = -1;
  let dev1 = '';
  await report.check(CHECKS.attachCli, async () => {
    const r = bridge.cli(['drive', 'attach', 'disk1']);
    assert(r.status === 0, `pidrive drive attach exited ${r.status}: ${r.stderr}`);
    const d = await drive('disk1');
    assert(d.attached === true && d.lun !== null, `drive ${JSON.stringify(d)}`);
    lun1 = d.lun;
    const m = await waitMedium(lun1);
    dev1 = m.dev;
    assert(m.bytes === 64 * MiB, `host sees ${m.bytes} bytes`);
    await waitFor(`${dev1}1 partition`, 10000, () => fs.existsSync(`/sys/block/${dev1}/${dev1}1`));
    const line = fs.readFileSync('/proc/partitions', 'utf8').split('\n').find((l) => l.trim().endsWith(` ${dev1}`));
    assert(line && Number(line.trim().split(/\s+/)[2]) === 65536, `/proc/partitions: ${line}`);
    return { cli: r.stdout.trim(), dev: dev1, lun: lun1 };
  });

  await report.check(CHECKS.bridgeFileOnHost, async () => {
    mount(`${dev1}1`, '/tmp/host/d1');
    const read = fs.readFileSync('/tmp/host/d1/HELLO.TXT', 'utf8');
    assert(read === hello, `read ${JSON.stringify(read)}`);
  });

  await report.check(CHECKS.hostWriting, async () => {
    let stop = false;
    let written = 0;
    const writer = (async () => {
      const fh = await fs.promises.open('/tmp/host/d1/STREAM.BIN', 'w');
      const chunk = crypto.randomBytes(256 * 1024);
      // Until the checks below are done, however fast this machine writes: an 8 MiB region over and over.
      while (!stop) {
        await fh.write(chunk, 0, chunk.length, written % (8 * MiB));
        await fh.sync();
        written += chunk.length;
      }
      await fh.close();
    })();
    let seen: any = null;
    let info: any = null;
    // The rate covers the last sample only; it is watched while the writer still runs.
    let maxRate = 0;
    const deadline = performance.now() + 20000;
    while ((!seen || maxRate === 0) && performance.now() < deadline) {
      const d = await drive('disk1');
      info = await bridge.ok('GET', '/bridge');
      maxRate = Math.max(maxRate, info.host_write_rate_bps);
      if (d.host_writing) seen ??= d;
      await sleep(100);
    }
    stop = true;
    await writer;
    writesStoppedAt = (await eventsSince(0)).at(-1)?.id ?? 0;
    assert(seen, `host_writing never became true while ${written} bytes were written`);
    assert(maxRate > 0, 'GET /bridge never showed a write rate while the host wrote');
    return { written, drive: { host_writing: seen.host_writing, host_connected: seen.host_connected, host_idle_s: seen.host_idle_s }, bridge_host_writing: info.host_writing, max_write_rate_bps: maxRate };
  });

  await report.check(CHECKS.hostIdle, async () => {
    let idle: any = null;
    const deadline = performance.now() + 20000;
    while (!idle && performance.now() < deadline) {
      const x = await drive('disk1');
      if (!x.host_writing && x.host_idle_s !== null && x.host_idle_s >= 2) idle = x;
      else await sleep(200);
    }
    assert(idle, 'host never became idle');
    const events = await eventsSince(writesStoppedAt);
    const idleEvent = events.find((e) => e.action === 'host.idle');
    assert(idleEvent, `no host.idle event in ${JSON.stringify(events.map((e) => e.action))}`);
    return { host_idle_s: idle.host_idle_s, event: idleEvent };
  });

  const hostData = crypto.randomBytes(300 * 1024);
  await report.check(CHECKS.detachNoMedium, async () => {
    fs.writeFileSync('/tmp/host/d1/HOST.BIN', hostData);
    umount('/tmp/host/d1');
    const res = await bridge.ok('POST', '/drives/disk1/detach', {});
    assert(res.method === 'file', `method ${res.method}`);
    assert(res.drive.attached === false, 'still attached');
    const dev = await waitNoMedium(lun1);
    let err: unknown = null;
    try {
      fs.openSync(`/dev/${dev}`, 'r');
    } catch (e) {
      err = e;
    }
    assert(isNoMedium(err), `open /dev/${dev}: ${err ? String(err) : 'succeeded'}`);
    return { dev, open: 'ENOMEDIUM', size: fs.readFileSync(`/sys/block/${dev}/size`, 'utf8').trim() };
  });

  await report.check(CHECKS.hostFileInImage, async () => {
    mtools('mcopy', ['-n', '-i', mtoolsImage(disk1.path), '::HOST.BIN', '/tmp/host.bin']);
    assert(sha(fs.readFileSync('/tmp/host.bin')) === sha(hostData), 'HOST.BIN differs');
  });

  await report.check(CHECKS.readOnly, async () => {
    const d = await bridge.ok('POST', '/drives/disk1/attach', { mode: 'read_only' });
    assert(d.mode === 'read_only' && d.attached, `drive ${JSON.stringify(d)}`);
    const m = await waitMedium(d.lun);
    await waitFor('ro flag', 5000, () => fs.readFileSync(`/sys/block/${m.dev}/ro`, 'utf8').trim() === '1');
    let openErr: string | undefined;
    try {
      fs.closeSync(fs.openSync(`/dev/${m.dev}`, 'r+'));
    } catch (e) {
      openErr = (e as NodeJS.ErrnoException).code;
    }
    assert(openErr === 'EROFS' || openErr === 'EACCES', `opening /dev/${m.dev} for writing: ${openErr ?? 'succeeded'}`);
    await waitFor(`${m.dev}1`, 10000, () => fs.existsSync(`/sys/block/${m.dev}/${m.dev}1`));
    mount(`${m.dev}1`, '/tmp/host/ro');
    let writeErr: string | undefined;
    try {
      fs.writeFileSync('/tmp/host/ro/NEW.TXT', 'x');
    } catch (e) {
      writeErr = (e as NodeJS.ErrnoException).code;
    }
    assert(writeErr === 'EROFS', `writing a file: ${writeErr ?? 'succeeded'}`);
    assert(fs.readFileSync('/tmp/host/ro/HELLO.TXT', 'utf8') === hello, 'cannot read');
    umount('/tmp/host/ro');
    const patch = await bridge.api('PATCH', '/drives/disk1', { mode: 'read_write' });
    assert(patch.status === 409, `mode change while attached answered ${patch.status}`);
    await bridge.ok('POST', '/drives/disk1/detach', {});
    await bridge.ok('PATCH', '/drives/disk1', { mode: 'read_write' });
    return { open_for_write: openErr, write_file: writeErr, mode_change_while_attached: patch.status };
  });

  let lun2 = -1;
  await report.check(CHECKS.twoDrives, async () => {
    const a = await bridge.ok('POST', '/drives/disk1/attach', {});
    const b = await bridge.ok('POST', '/drives/disk2/attach', {});
    assert(a.lun !== b.lun, `same LUN ${a.lun}`);
    lun1 = a.lun;
    lun2 = b.lun;
    const ma = await waitMedium(a.lun);
    const mb = await waitMedium(b.lun);
    assert(ma.dev !== mb.dev, 'one device');
    assert(ma.bytes === 64 * MiB && mb.bytes === 48 * MiB, `sizes ${ma.bytes} ${mb.bytes}`);
    const parts = fs.readFileSync('/proc/partitions', 'utf8');
    assert(parts.includes(` ${ma.dev}\n`) && parts.includes(` ${mb.dev}\n`), parts);
    dev1 = ma.dev;
    return { [ma.dev]: ma.bytes, [mb.dev]: mb.bytes };
  });

  await report.check(CHECKS.ejectMounted, async () => {
    const m = await waitMedium(lun2);
    mount(`${m.dev}1`, '/tmp/host/d2');
    const refused = await bridge.api('POST', '/drives/disk2/detach', {});
    assert(refused.status === 409, `detach answered ${refused.status}`);
    assert((await drive('disk2')).attached === true, 'a refused detach changed the state');
    assert(probeMedium(m.dev) === 48 * MiB, 'the host lost the medium after a refused detach');
    const res = await bridge.ok('POST', '/drives/disk2/eject', {});
    assert(res.method === 'forced_eject', `method ${res.method}`);
    await waitNoMedium(lun2);
    let readErr: string | undefined;
    try {
      fs.readdirSync('/tmp/host/d2');
      fs.readFileSync(`/dev/${m.dev}`);
    } catch (e) {
      readErr = (e as NodeJS.ErrnoException).code;
    }
    assert(readErr, 'host reads still succeed after eject');
    umount('/tmp/host/d2', true);
    return { refused: refused.body, method: res.method, host_read: readErr };
  });

  await report.check(CHECKS.kill9, async () => {
    mount(`${dev1}1`, '/tmp/host/d1');
    fs.writeFileSync('/tmp/host/d1/BEFORE.TXT', 'before');
    sh('sync', []);
    const devnum = fs.readFileSync('/sys/bus/usb/devices/1-1/devnum', 'utf8').trim();
    await bridge.kill9();
    // The kernel serves the drive on its own while no daemon runs.
    fs.writeFileSync('/tmp/host/d1/DURING.TXT', 'during');
    sh('sync', []);
    const free = [0, 1, 2, 3].find((n) => n !== lun1 && fs.readFileSync(`${FN}/lun.${n}/file`, 'utf8').trim() === '')!;
    sh('truncate', ['-s', '16M', '/tmp/stray.img']);
    fs.writeFileSync(`${FN}/lun.${free}/file`, '/tmp/stray.img\n');
    await waitMedium(free);
    await bridge.start();
    const d = await drive('disk1');
    assert(d.attached === true && d.lun === lun1, `after restart: ${JSON.stringify({ attached: d.attached, lun: d.lun })}`);
    assert((await drive('disk2')).attached === false, 'disk2 came back attached');
    assert(fs.readFileSync(`${GADGET}/UDC`, 'utf8').trim() === 'dummy_udc.0', 'unbound');
    const devnumAfter = fs.readFileSync('/sys/bus/usb/devices/1-1/devnum', 'utf8').trim();
    assert(devnum === devnumAfter, `the host re-enumerated the device (devnum ${devnum} → ${devnumAfter})`);
    assert(deviceForLun(lun1) === dev1 && probeMedium(dev1) === 64 * MiB, 'the host lost the disk');
    assert(fs.readFileSync('/tmp/host/d1/DURING.TXT', 'utf8') === 'during', 'DURING.TXT unreadable');
    fs.writeFileSync('/tmp/host/d1/AFTER.TXT', 'after');
    sh('sync', []);
    assert(fs.readFileSync(`${FN}/lun.${free}/file`, 'utf8').trim() === '', 'the stray medium is still loaded');
    await waitNoMedium(free);
    const info = await bridge.ok('GET', '/bridge');
    assert(info.attached_drives === 1 && info.host_connected === true, `bridge info ${JSON.stringify(info)}`);
    umount('/tmp/host/d1');
    await bridge.ok('POST', '/drives/disk1/detach', {});
    return { devnum, stray_lun: free };
  });

  await report.check(CHECKS.cdrom, async () => {
    fs.mkdirSync('/tmp/isodir', { recursive: true });
    fs.writeFileSync('/tmp/isodir/README.TXT', 'iso content\n');
    fs.writeFileSync('/tmp/isodir/FILL.BIN', crypto.randomBytes(MiB));
    sh('xorriso', ['-as', 'mkisofs', '-quiet', '-V', 'PIDRIVE', '-o', '/tmp/test.iso', '/tmp/isodir']);
    const isoSize = fs.statSync('/tmp/test.iso').size;
    const created = await bridge.ok('POST', '/drives', { id: 'iso1', from: '/tmp/test.iso', cdrom: true });
    assert(created.mode === 'cdrom', `mode ${created.mode}`);
    const d = await bridge.ok('POST', '/drives/iso1/attach', {});
    const m = await waitMedium(d.lun, 20000);
    assert(m.dev.startsWith('sr'), `host device ${m.dev} is not a CD-ROM`);
    assert(m.bytes === Math.floor(isoSize / 2048) * 2048, `sr size ${m.bytes}, ISO ${isoSize}`);
    // The host read INQUIRY again when it re-enumerated: the product is the drive's label (or id).
    const model = fs.readFileSync(`/sys/block/${m.dev}/device/model`, 'utf8').trim();
    assert(model === (created.label ?? 'iso1').slice(0, 16), `INQUIRY product "${model}", label ${created.label}`);
    mount(m.dev, '/tmp/host/cd', ['-t', 'iso9660', '-o', 'ro']);
    const text = fs.readFileSync('/tmp/host/cd/README.TXT', 'utf8');
    umount('/tmp/host/cd');
    assert(text === 'iso content\n', `README.TXT: ${text}`);
    const res = await bridge.ok('POST', '/drives/iso1/detach', {});
    await waitNoMedium(d.lun);
    return { dev: m.dev, bytes: m.bytes, model, detach: res.method };
  });

  await report.check(CHECKS.cdromTooLarge, async () => {
    await bridge.ok('POST', '/drives', { id: 'big', size: '2400M', fs: 'none' });
    const patch = await bridge.api('PATCH', '/drives/big', { mode: 'cdrom' });
    assert(patch.status === 413 && /2\.2/.test(patch.body.error.message), `PATCH: ${patch.status} ${JSON.stringify(patch.body)}`);
    const attach = await bridge.api('POST', '/drives/big/attach', { mode: 'cdrom' });
    assert(attach.status === 413, `attach: ${attach.status} ${JSON.stringify(attach.body)}`);
    assert((await drive('big')).attached === false, 'attached anyway');
    return patch.body.error.message;
  });

  await report.check(CHECKS.hostEject, async () => {
    const d = await bridge.ok('POST', '/drives/disk1/attach', {});
    const m = await waitMedium(d.lun);
    hostEject(m.dev);
    await waitNoMedium(d.lun);
    const after = await waitFor('the bridge to notice', 10000, async () => {
      const x = await drive('disk1');
      return x.attached === false ? x : null;
    });
    const event = (await eventsSince(0)).reverse().find((e) => e.drive === 'disk1' && e.action === 'drive.detached');
    assert(event?.details?.by === 'host', `last detach event ${JSON.stringify(event)}`);
    assert(fs.readFileSync(`${FN}/lun.${d.lun}/file`, 'utf8').trim() === '', 'the LUN still has its file');
    return { lun: after.lun, event: event.details };
  });

  await report.check(CHECKS.stopKeepsBound, async () => {
    const d = await bridge.ok('POST', '/drives/disk1/attach', {});
    await waitMedium(d.lun);
    await bridge.stop();
    assert(fs.readFileSync(`${GADGET}/UDC`, 'utf8').trim() === 'dummy_udc.0', 'unbound on stop');
    await sleep(500);
    assert(probeMedium(deviceForLun(d.lun)!) === 64 * MiB, 'medium gone after stop');
  });

  // The rungs of the eject ladder after forced_eject, on the same kernel with forced_eject (and
  // soft_connect) masked, as on kernels that lack them.
  const config = ConfigSchema.parse({ gadget: { backend: 'configfs', luns: 2 } });
  const log = createLogger({ level: 'debug', format: 'json', write: (l) => fs.appendFileSync(path.join(outDir, 'ladder.log'), l + '\n') });
  const image = fs.realpathSync(disk1.path);
  for (const [name, ignore, expected] of [
    [CHECKS.ladderNoForcedEject, ['forced_eject'], ['soft_connect', 'rebind']],
    [CHECKS.ladderRebind, ['forced_eject', 'soft_connect'], ['rebind']],
  ] as const) {
    await report.check(name, async () => {
      const backend = new ConfigfsBackend({ gadget: config.gadget, udc: 'dummy_udc.0', serial: 'LADDER', log, ignoreAttributes: ignore });
      await backend.create(new Map([[0, { file: image, cdrom: false, ro: false, nofua: false, inquiry: 'PiDrive ladder          0100' }]]));
      const m = await waitMedium(0, 20000);
      await waitFor(`${m.dev}1`, 10000, () => fs.existsSync(`/sys/block/${m.dev}/${m.dev}1`));
      mount(`${m.dev}1`, '/tmp/host/ladder');
      let locked = false;
      try {
        await backend.remove(0, false);
      } catch (err) {
        locked = err instanceof MediumLocked;
      }
      assert(locked, 'a plain detach was not refused while mounted');
      const method = await backend.remove(0, true);
      assert((expected as readonly string[]).includes(method), `method ${method}`);
      assert((await backend.serving(0)) === null, 'LUN still serves the file');
      // The host keeps (or gets back, after a re-enumeration) the LUN's device, without a medium.
      const dev = await waitNoMedium(0, 20000);
      if (mounted('/tmp/host/ladder')) umount('/tmp/host/ladder', true);
      return { method, host_device: dev };
    });
  }
}

try {
  await main();
} catch (err) {
  report.record('scenario crashed', err instanceof Error ? err.stack : String(err));
  console.error(err);
  process.exitCode = 1;
} finally {
  await bridge.kill9();
}
