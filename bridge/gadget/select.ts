import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.ts';
import { PiDriveError } from '../core/errors.ts';

export interface Selection {
  kind: 'configfs' | 'simulated';
  /** Said in the log, `GET /bridge` and the MQTT bridge info. */
  reason: string;
  udc: string | null;
}

const DWC2_HINT =
  'on a Raspberry Pi add dtoverlay=dwc2 (Pi 4/5: dtoverlay=dwc2,dr_mode=peripheral) to /boot/firmware/config.txt, ' +
  'reboot and use the OTG port (Pi 4/5 USB-C, Zero "USB" micro-USB)';

function listUdcs(sysfsRoot: string): { dir: string; udcs: string[] | null } {
  const dir = path.join(sysfsRoot, 'class', 'udc');
  try {
    return { dir, udcs: fs.readdirSync(dir).sort() };
  } catch {
    return { dir, udcs: null };
  }
}

/**
 * Picks the backend. `auto` falls back to the simulated backend only when the machine has no USB
 * device controller at all; any other obstacle (configfs or libcomposite missing, not root) is a
 * refusal to start that names the fix, because a silent simulation would look like a dead cable.
 */
export function selectBackend(gadget: Config['gadget'], isRoot: boolean = process.getuid?.() === 0): Selection {
  if (gadget.backend === 'simulated') {
    return { kind: 'simulated', reason: 'gadget.backend is set to simulated: drives never reach a USB host', udc: null };
  }
  const { dir, udcs } = listUdcs(gadget.sysfs_root);
  if (!udcs || udcs.length === 0) {
    const what = `no USB device controller (${dir} is ${udcs ? 'empty' : 'absent'})`;
    if (gadget.backend === 'auto') {
      return { kind: 'simulated', reason: `${what}: drives are simulated and never reach a USB host; ${DWC2_HINT}`, udc: null };
    }
    throw new PiDriveError('unavailable', `gadget.backend is configfs but there is ${what}; ${DWC2_HINT}`, { 'gadget.backend': 'no USB device controller' });
  }
  let udc = udcs[0]!;
  if (gadget.udc !== 'auto') {
    if (!udcs.includes(gadget.udc)) {
      throw new PiDriveError('unavailable', `gadget.udc "${gadget.udc}" is not in ${dir} (found: ${udcs.join(', ')})`, { 'gadget.udc': 'no such USB device controller' });
    }
    udc = gadget.udc;
  }
  const gadgets = path.join(gadget.configfs_root, 'usb_gadget');
  if (!fs.existsSync(gadgets)) {
    throw new PiDriveError(
      'unavailable',
      `USB device controller ${udc} found, but ${gadgets} is missing: load libcomposite (modprobe libcomposite; add it to /etc/modules) ` +
        `and mount configfs (mount -t configfs none ${gadget.configfs_root}); or set gadget.backend to simulated`,
      { 'gadget.backend': 'libcomposite not loaded or configfs not mounted' },
    );
  }
  if (!isRoot) {
    throw new PiDriveError('unavailable', `USB device controller ${udc} found, but the configfs gadget needs root: run the bridge as root (the systemd unit does) or set gadget.backend to simulated`, {
      'gadget.backend': 'not root',
    });
  }
  return { kind: 'configfs', reason: `USB device controller ${udc} (gadget.backend is ${gadget.backend})`, udc };
}
