/**
 * Gadget benchmark (issue 3): attach → disk visible on the USB host, detach → medium absent,
 * p50/p95 over N cycles, inside a real kernel under QEMU (see test/kernel/vm.ts), the real bridge
 * driven through its control socket; MQTT is not involved. Reference in the same run: the same
 * medium change written straight into configfs, so the bridge's cost is a ratio, not a guess.
 * Software emulation makes absolute times slower than on a Raspberry Pi; the ratio carries over.
 *
 *   node bench/gadget/run.ts [--cycles 20] [--out FILE]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_DIR, runGuest } from '../../test/kernel/vm.ts';

const { values: opts } = parseArgs({ options: { cycles: { type: 'string', default: '20' }, out: { type: 'string' } } });
const cycles = Number(opts.cycles);
if (!Number.isInteger(cycles) || cycles < 1) throw new Error('--cycles must be a positive integer');

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidrive-bench-gadget-'));
try {
  const vm = await runGuest(
    { script: path.join(PROJECT_DIR, 'bench/gadget/guest.ts'), args: [outDir, String(cycles)], outDir },
    { timeoutMs: 9 * 60 * 1000, log: (l) => l.startsWith('@@') && process.stderr.write(`[bench:gadget] ${l}\n`) },
  );
  const file = path.join(outDir, 'bench.json');
  if (!fs.existsSync(file)) throw new Error(`the guest produced no results (exit ${vm.guestExit})\n${vm.guestLog}`);
  const { samples_ms } = JSON.parse(fs.readFileSync(file, 'utf8')) as { samples_ms: Record<string, number[]> };
  const stats = Object.fromEntries(
    Object.entries(samples_ms).map(([k, v]) => [k, { p50_ms: +quantile(v, 0.5).toFixed(1), p95_ms: +quantile(v, 0.95).toFixed(1), n: v.length }]),
  );
  const ratio = (a: string, b: string, q: 'p50_ms' | 'p95_ms'): number => +(stats[a]![q] / stats[b]![q]).toFixed(2);
  const report = {
    date: new Date().toISOString(),
    environment: `qemu-system-x86_64 -accel tcg, ${os.cpus().length} host cores, kernel under test in the guest`,
    cycles,
    stats,
    ratios_vs_configfs: {
      attach_p50: ratio('bridge_attach', 'configfs_attach', 'p50_ms'),
      attach_p95: ratio('bridge_attach', 'configfs_attach', 'p95_ms'),
      detach_p50: ratio('bridge_detach', 'configfs_detach', 'p50_ms'),
      detach_p95: ratio('bridge_detach', 'configfs_detach', 'p95_ms'),
    },
  };
  console.log(JSON.stringify(report, null, 2));
  const out = opts.out ?? path.join(PROJECT_DIR, 'bench/gadget/results', `${report.date.slice(0, 10)}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
  process.stderr.write(`[bench:gadget] written to ${out}\n`);
} finally {
  fs.rmSync(outDir, { recursive: true, force: true });
}
