import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import koffi from 'koffi';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The USB host's side of the guest kernel: the SCSI disks and CD-ROMs that usb-storage created for
 * the gadget's LUNs, read exactly as a desktop would (open the device, read /sys/block, mount).
 */

/** Linux's ENOMEDIUM ("No medium found"); libuv has no name for it, so Node reports only the number. */
const ENOMEDIUM = -123;

export function isNoMedium(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.errno === ENOMEDIUM;
}

/** The block device (sdX or srN) the host created for a LUN of the gadget, found by its SCSI address H:C:T:L. */
export function deviceForLun(lun: number): string | null {
  for (const name of fs.readdirSync('/sys/block')) {
    if (!/^(sd[a-z]+|sr\d+)$/.test(name)) continue;
    let target: string;
    try {
      target = fs.realpathSync(`/sys/block/${name}/device`);
    } catch {
      continue;
    }
    if (target.endsWith(`:${lun}`) && fs.readFileSync(`/sys/block/${name}/device/state`, 'utf8').trim() === 'running') return name;
  }
  return null;
}

/**
 * Opens the device as udisks does after a media-change event (the kernel revalidates capacity and
 * partitions only on open) and returns its size in bytes, or null when the device reports no medium.
 */
export function probeMedium(dev: string): number | null {
  let fd: number;
  try {
    fd = fs.openSync(`/dev/${dev}`, 'r');
  } catch (err) {
    if (isNoMedium(err)) return null;
    throw err;
  }
  try {
    fs.readSync(fd, Buffer.alloc(2048), 0, 2048, 0);
  } finally {
    fs.closeSync(fd);
  }
  return Number(fs.readFileSync(`/sys/block/${dev}/size`, 'utf8')) * 512;
}

export async function waitFor<T>(what: string, timeoutMs: number, fn: () => T | null | undefined | false | Promise<T | null | undefined | false>): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let lastErr: unknown = null;
  for (;;) {
    try {
      const v = await fn();
      if (v !== null && v !== undefined && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${String(lastErr)})` : ''}`);
    await sleep(50);
  }
}

/** Waits until the host sees a medium of the LUN; returns the device and its size. */
export async function waitMedium(lun: number, timeoutMs = 15000): Promise<{ dev: string; bytes: number }> {
  return waitFor(`a medium on LUN ${lun}`, timeoutMs, () => {
    const dev = deviceForLun(lun);
    if (!dev) return null;
    const bytes = probeMedium(dev);
    return bytes ? { dev, bytes } : null;
  });
}

/** Waits until the LUN's device reports "no medium" (open fails with ENOMEDIUM, size 0). */
export async function waitNoMedium(lun: number, timeoutMs = 15000): Promise<string> {
  return waitFor(`no medium on LUN ${lun}`, timeoutMs, () => {
    const dev = deviceForLun(lun);
    if (!dev) return null;
    if (probeMedium(dev) !== null) return null;
    // sd drops its capacity to 0; sr keeps the last disc's size and only refuses to open.
    return dev.startsWith('sr') || Number(fs.readFileSync(`/sys/block/${dev}/size`, 'utf8')) === 0 ? dev : null;
  });
}

export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], input });
}

/** Runs a command expected to fail; returns its stderr, throws if it succeeded. */
export function shFails(cmd: string, args: string[]): string {
  try {
    execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    return String((err as { stderr?: string }).stderr ?? err);
  }
  throw new Error(`${cmd} ${args.join(' ')} succeeded but should have failed`);
}

export function mount(dev: string, dir: string, options: string[] = []): void {
  fs.mkdirSync(dir, { recursive: true });
  sh('mount', [...options, `/dev/${dev}`, dir]);
}

export function umount(dir: string, lazy = false): void {
  sh('umount', lazy ? ['-l', dir] : [dir]);
}

export function mounted(dir: string): boolean {
  return fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === dir);
}

const SCSI_IOCTL_DOORUNLOCK = 0x5381;
const CDROMEJECT = 0x5309;
let ioctl: ((fd: number, request: number) => number) | null = null;

/** What `eject /dev/sdX` does: allow medium removal, then SCSI START STOP UNIT with LoEj. */
export function hostEject(dev: string): void {
  ioctl ??= koffi.load('libc.so.6').func('int ioctl(int fd, unsigned long request)') as (fd: number, request: number) => number;
  const fd = fs.openSync(`/dev/${dev}`, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    // A positive result is the SCSI status of a command the device refused (2 = CHECK CONDITION).
    for (const [name, request] of [['SCSI_IOCTL_DOORUNLOCK', SCSI_IOCTL_DOORUNLOCK], ['CDROMEJECT', CDROMEJECT]] as const) {
      const result = ioctl(fd, request);
      if (result !== 0) throw new Error(`${name} on /dev/${dev} failed (${result})`);
    }
  } finally {
    fs.closeSync(fd);
  }
}
