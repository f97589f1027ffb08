import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { controlRequest } from '../../../bridge/cli/control-client.ts';
import { startDaemon } from '../../helpers/daemon.ts';
import { tempDir } from '../../helpers/tools.ts';

/**
 * gadget.backend auto on a machine without a USB device controller: the bridge still starts, on the
 * simulated backend, and says so in a warn line with the reason, as a silent simulation would look
 * like a dead cable. Both ways the controller can be missing are covered, on a sysfs root of the
 * test's own, so the result does not depend on the machine; the machine's /sys as well where it has no UDC.
 */
test('pidrive start with gadget.backend auto and no USB device controller warns loudly that the gadget is simulated, and why', { timeout: 120_000 }, async (t) => {
  const dir = tempDir(t);
  const emptySysfs = path.join(dir, 'sys-empty');
  fs.mkdirSync(path.join(emptySysfs, 'class', 'udc'), { recursive: true });
  const cases: Array<{ name: string; sysfs?: string; why: RegExp }> = [
    { name: 'no udc class', sysfs: path.join(dir, 'sys-none'), why: new RegExp(`no USB device controller \\(${path.join(dir, 'sys-none', 'class', 'udc')} is absent\\)`) },
    { name: 'empty udc class', sysfs: emptySysfs, why: new RegExp(`no USB device controller \\(${path.join(emptySysfs, 'class', 'udc')} is empty\\)`) },
  ];
  if (!fs.existsSync('/sys/class/udc')) cases.push({ name: 'this machine', why: /no USB device controller \(\/sys\/class\/udc is absent\)/ });
  for (const c of cases) {
    const data = path.join(dir, `data-${cases.indexOf(c)}`);
    const env: Record<string, string> = { PIDRIVE_GADGET__BACKEND: 'auto', ...(c.sysfs ? { PIDRIVE_GADGET__SYSFS_ROOT: c.sysfs } : {}) };
    const daemon = await startDaemon(t, data, { env });
    const warnings = daemon.lines().filter((l) => l.level === 'warn' && /SIMULATED/.test(l.msg));
    assert.equal(warnings.length, 1, `${c.name}: one warn line\n${daemon.output()}`);
    const w = warnings[0]!;
    assert.match(w.msg, /USB GADGET IS SIMULATED/, c.name);
    const reason = String(w.reason);
    assert.match(reason, c.why, c.name);
    assert.match(reason, /drives are simulated and never reach a USB host/, c.name);
    assert.match(reason, /dtoverlay=dwc2/, `${c.name}: the fix is named`);
    const info = await controlRequest(data, 'GET', '/bridge');
    assert.equal(info.status, 200, info.text);
    const body = JSON.parse(info.text) as { gadget_backend: string; gadget_reason: string };
    assert.deepEqual([body.gadget_backend, body.gadget_reason], ['simulated', reason], `${c.name}: GET /bridge says the same`);
  }
});

test('gadget.backend simulated set on purpose is announced too, naming the setting', { timeout: 60_000 }, async (t) => {
  const daemon = await startDaemon(t, path.join(tempDir(t), 'data'));
  const w = daemon.lines().find((l) => l.level === 'warn' && /SIMULATED/.test(l.msg));
  assert.ok(w, daemon.output());
  assert.match(String(w.reason), /gadget\.backend is set to simulated/);
});
