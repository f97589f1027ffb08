/**
 * Runs inside the QEMU guest (bench/gadget/run.ts boots it). Times, on the guest kernel's host side:
 *   bridge:    POST /drives/{id}/attach → the host's device has the medium (open succeeds, size right),
 *              POST /drives/{id}/detach → the device reports no medium (and, separately, until the
 *              HTTP answer arrives: the API, audit and database share of it);
 *   reference: the same medium change written straight into configfs (`lun.N/file`), the floor any
 *              gadget daemon pays, measured in the same guest in the same run.
 * Usage: node guest.ts <out-dir> <cycles>
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BridgeProcess } from '../../test/kernel/guest/bridge.ts';
import { deviceForLun, probeMedium } from '../../test/kernel/guest/host-side.ts';

const outDir = process.argv[2]!;
const cycles = Number(process.argv[3] ?? 20);
const MiB = 1024 * 1024;
const LUN_FILE = (lun: number): string => `/sys/kernel/config/usb_gadget/pidrive/functions/mass_storage.0/lun.${lun}/file`;

/** Polls the host side every 2 ms: the resolution of every figure below. */
async function until(what: string, fn: () => boolean, timeoutMs = 20000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!fn()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}
const visible = (lun: number, bytes: number) => (): boolean => {
  const dev = deviceForLun(lun);
  return dev !== null && probeMedium(dev) === bytes;
};
const absent = (lun: number) => (): boolean => {
  const dev = deviceForLun(lun);
  return dev !== null && probeMedium(dev) === null;
};

const bridge = new BridgeProcess(
  '/tmp/pidrive-bench',
  path.join(outDir, 'bridge.log'),
  'bridge:\n  id: bench\nhttp:\n  host: 127.0.0.1\n  port: 0\nembedded_broker:\n  host: 127.0.0.1\n  port: 0\ngadget:\n  backend: configfs\n  luns: 2\nlog:\n  level: info\n',
);
const samples: Record<string, number[]> = { bridge_attach: [], bridge_attach_response: [], bridge_detach: [], bridge_detach_response: [], configfs_attach: [], configfs_detach: [] };
try {
  await bridge.start();
  const drive = await bridge.ok('POST', '/drives', { id: 'bench', size: '64M', fs: 'fat32' });
  const image = fs.realpathSync(drive.path);
  for (let i = 0; i < cycles; i++) {
    let t = performance.now();
    const d = await bridge.ok('POST', '/drives/bench/attach', {});
    samples.bridge_attach_response!.push(performance.now() - t);
    await until('the medium after attach', visible(d.lun, 64 * MiB));
    samples.bridge_attach!.push(performance.now() - t);
    t = performance.now();
    await bridge.ok('POST', '/drives/bench/detach', {});
    samples.bridge_detach_response!.push(performance.now() - t);
    await until('no medium after detach', absent(d.lun));
    samples.bridge_detach!.push(performance.now() - t);
  }
  // Reference: the other slot, driven by hand through configfs while the bridge leaves it alone.
  const lun = 1;
  for (let i = 0; i < cycles; i++) {
    let t = performance.now();
    fs.writeFileSync(LUN_FILE(lun), `${image}\n`);
    await until('the medium after a configfs write', visible(lun, 64 * MiB));
    samples.configfs_attach!.push(performance.now() - t);
    t = performance.now();
    fs.writeFileSync(LUN_FILE(lun), '\n');
    await until('no medium after a configfs write', absent(lun));
    samples.configfs_detach!.push(performance.now() - t);
  }
  fs.writeFileSync(path.join(outDir, 'bench.json'), JSON.stringify({ cycles, samples_ms: samples }));
} finally {
  await bridge.kill9();
}
