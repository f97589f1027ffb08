import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigSchema } from '../../../bridge/config/schema.ts';
import { PiDriveError } from '../../../bridge/core/errors.ts';
import { selectBackend } from '../../../bridge/gadget/select.ts';
import { tempDir } from '../../helpers/tools.ts';

/** A sysfs/configfs layout in a temporary directory: which UDCs exist, whether usb_gadget exists. */
function roots(dir: string, opts: { udcs?: string[] | null; usbGadget?: boolean }) {
  const sysfs = path.join(dir, 'sys');
  const configfs = path.join(dir, 'config');
  fs.mkdirSync(sysfs, { recursive: true });
  fs.mkdirSync(configfs, { recursive: true });
  if (opts.udcs) {
    fs.mkdirSync(path.join(sysfs, 'class/udc'), { recursive: true });
    for (const u of opts.udcs) fs.mkdirSync(path.join(sysfs, 'class/udc', u));
  }
  if (opts.usbGadget) fs.mkdirSync(path.join(configfs, 'usb_gadget'));
  return { sysfs_root: sysfs, configfs_root: configfs };
}

const gadget = (g: Record<string, unknown>) => ConfigSchema.parse({ gadget: g }).gadget;

function refusal(fn: () => unknown): PiDriveError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof PiDriveError, String(err));
    assert.equal(err.code, 'unavailable');
    return err;
  }
  assert.fail('expected a refusal');
}

test('simulated when asked for, whatever the machine has', (t) => {
  const s = selectBackend(gadget({ backend: 'simulated', ...roots(tempDir(t), { udcs: ['fe980000.usb'], usbGadget: true }) }), true);
  assert.equal(s.kind, 'simulated');
  assert.match(s.reason, /gadget\.backend is set to simulated/);
});

test('auto falls back to simulated only without a USB device controller, and says why', (t) => {
  const absent = selectBackend(gadget({ ...roots(tempDir(t), { udcs: null }) }), true);
  assert.equal(absent.kind, 'simulated');
  assert.match(absent.reason, /class\/udc is absent/);
  assert.match(absent.reason, /dtoverlay=dwc2/);
  const empty = selectBackend(gadget({ ...roots(tempDir(t), { udcs: [] }) }), true);
  assert.equal(empty.kind, 'simulated');
  assert.match(empty.reason, /is empty/);
});

test('auto with a controller picks configfs and the first controller', (t) => {
  const s = selectBackend(gadget({ ...roots(tempDir(t), { udcs: ['musb-hdrc.2', 'dummy_udc.0'], usbGadget: true }) }), true);
  assert.deepEqual([s.kind, s.udc], ['configfs', 'dummy_udc.0']);
  const chosen = selectBackend(gadget({ udc: 'musb-hdrc.2', ...roots(tempDir(t), { udcs: ['musb-hdrc.2', 'dummy_udc.0'], usbGadget: true }) }), true);
  assert.equal(chosen.udc, 'musb-hdrc.2');
});

test('configfs asked for but impossible: refuses to start and names the fix', (t) => {
  const noUdc = refusal(() => selectBackend(gadget({ backend: 'configfs', ...roots(tempDir(t), { udcs: [], usbGadget: true }) }), true));
  assert.match(noUdc.message, /dtoverlay=dwc2/);
  assert.deepEqual(Object.keys(noUdc.fields ?? {}), ['gadget.backend']);
  const noLibcomposite = refusal(() => selectBackend(gadget({ backend: 'configfs', ...roots(tempDir(t), { udcs: ['dummy_udc.0'] }) }), true));
  assert.match(noLibcomposite.message, /modprobe libcomposite/);
  const notRoot = refusal(() => selectBackend(gadget({ backend: 'configfs', ...roots(tempDir(t), { udcs: ['dummy_udc.0'], usbGadget: true }) }), false));
  assert.match(notRoot.message, /needs root/);
  const unknownUdc = refusal(() => selectBackend(gadget({ udc: 'nope', ...roots(tempDir(t), { udcs: ['dummy_udc.0'], usbGadget: true }) }), true));
  assert.match(unknownUdc.message, /"nope" is not in .*found: dummy_udc\.0/);
  assert.deepEqual(Object.keys(unknownUdc.fields ?? {}), ['gadget.udc']);
});

test('auto with a controller but no libcomposite refuses instead of simulating silently', (t) => {
  const err = refusal(() => selectBackend(gadget({ ...roots(tempDir(t), { udcs: ['dummy_udc.0'] }) }), true));
  assert.match(err.message, /libcomposite/);
});
