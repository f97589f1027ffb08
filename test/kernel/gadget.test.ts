import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { requireTool } from '../helpers/tools.ts';
import { CHECKS } from './guest/checks.ts';
import { readResults } from './guest/report.ts';
import { PROJECT_DIR, VM_TOOLS, runGuest } from './vm.ts';

/**
 * The USB gadget on a real Linux kernel: a Debian kernel under qemu-system-x86_64 (software
 * emulation) runs the bridge daemon of this checkout against configfs + dummy_hcd, and checks every
 * result from the host side of the same kernel (guest/scenario.ts). One boot, one subtest per check.
 */
const VM_TIMEOUT_MS = 8 * 60 * 1000;

test('USB gadget in a real kernel (QEMU, dummy_hcd)', { timeout: VM_TIMEOUT_MS + 60_000 }, async (t) => {
  if (!requireTool(t, ...Object.keys(VM_TOOLS), 'xorriso', 'mcopy', 'mount')) return;
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidrive-kernel-'));
  t.after(() => fs.rmSync(outDir, { recursive: true, force: true }));

  const vm = await runGuest(
    { script: path.join(PROJECT_DIR, 'test/kernel/guest/scenario.ts'), args: [outDir], outDir },
    { timeoutMs: VM_TIMEOUT_MS },
  );
  const results = readResults(outDir);
  const tail = (text: string, lines = 40): string => text.split('\n').slice(-lines).join('\n');
  const context = (): string =>
    `guest exit ${vm.guestExit}, qemu exit ${vm.qemuExit}, ${Math.round(vm.durationMs / 1000)} s\n` +
    `--- guest log ---\n${tail(vm.guestLog)}\n--- bridge log ---\n${tail(readIfExists(path.join(outDir, 'bridge.log')))}\n` +
    `--- console ---\n${tail(vm.console, 20)}\n--- dmesg ---\n${tail(vm.dmesg, 30)}`;

  await t.test('the guest ran the whole scenario', () => {
    assert.notEqual(vm.guestExit, null, `the guest never finished\n${context()}`);
    const crash = results.find((r) => r.check === 'scenario crashed');
    assert.equal(crash, undefined, `the scenario crashed: ${String(crash?.detail)}\n${context()}`);
  });
  for (const name of Object.values(CHECKS)) {
    await t.test(name, () => {
      const r = results.find((x) => x.check === name);
      assert.ok(r, `the guest did not report "${name}"\n${context()}`);
      assert.ok(r.ok, `${String(r.detail)}\n${context()}`);
    });
  }
});

function readIfExists(file: string): string {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '(none)';
}
