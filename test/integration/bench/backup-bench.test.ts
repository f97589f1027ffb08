import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { QUICK, workloads } from '../../../bench/backup/workloads.ts';
import { requireTool, tempDir } from '../../helpers/tools.ts';

const RUN = path.resolve(import.meta.dirname, '../../../bench/backup/run.ts');
const TOOLS = ['restic', 'borg', 'mkfs.vfat', 'mcopy', 'mmd', 'mdel', 'mkfifo', 'time'];

function harness(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [RUN, ...args], { timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

interface Report {
  scale: string;
  results: Array<{
    dataset: { id: string; v1Facts: { sha256: string; allocatedBytes: number }; v2Facts: { sha256: string } };
    physical: { v1: { bytes: number } };
    tools: Array<{
      id: string;
      first: { wallS: number; maxRssKiB: number };
      incremental: { wallS: number };
      restore: { wallS: number };
      storedV1: { apparentBytes: number };
      storedV2: { apparentBytes: number };
      restored: { sha256: string; identical: boolean };
      ratios: { first: number } | null;
    }>;
  }>;
  targets: Array<{ dataset: string; pass: boolean }>;
}

test('the backup benchmark runs every tool on the quick D1 workload and verifies each restore', { timeout: 150_000 }, async (t) => {
  if (!requireTool(t, ...TOOLS)) return;
  const dir = tempDir(t, 'pidrive-bench-backup-');
  const out = path.join(dir, 'results.json');
  const r = await harness(['--quick', '--datasets', 'd1', '--no-drop-caches', '--work', path.join(dir, 'work'), '--out', out]);
  assert.equal(r.code, 0, r.stderr);

  const report = JSON.parse(fs.readFileSync(out, 'utf8')) as Report;
  assert.equal(report.scale, 'quick');
  assert.equal(report.results.length, 1);
  const [d1] = report.results;
  assert.equal(d1!.dataset.id, 'd1');
  assert.notEqual(d1!.dataset.v1Facts.sha256, d1!.dataset.v2Facts.sha256);
  assert.ok(d1!.physical.v1.bytes > 0 && d1!.physical.v1.bytes <= d1!.dataset.v1Facts.allocatedBytes);
  assert.deepEqual(d1!.tools.map((x) => x.id), ['pidrive', 'restic', 'borg-fixed', 'borg-cdc', 'cp']);
  for (const tool of d1!.tools) {
    assert.equal(tool.restored.sha256, d1!.dataset.v2Facts.sha256, `${tool.id} restored v2 byte-identical`);
    assert.ok(tool.restored.identical);
    assert.ok(tool.first.wallS > 0 && tool.incremental.wallS > 0 && tool.restore.wallS > 0, `${tool.id} timed`);
    assert.ok(tool.first.maxRssKiB > 0, `${tool.id} peak RSS measured`);
    assert.ok(tool.storedV2.apparentBytes > tool.storedV1.apparentBytes && tool.storedV1.apparentBytes > 0, `${tool.id} repository grew`);
    assert.ok(tool.ratios && tool.ratios.first > 0);
  }
  assert.equal(d1!.tools[0]!.ratios!.first, 1);
  assert.equal(report.targets.filter((x) => x.dataset === 'd1').length, 4);
  assert.match(r.stdout, /\| PiDrive \| [\d.]+ s \(1\.00×\)/);
  assert.match(r.stdout, /\| restic 0\.14 \(zstd auto\) \| [\d.]+ s \([\d.]+×\)/);
});

test('the workloads are the same bytes every time they are generated', { timeout: 60_000 }, (t) => {
  if (!requireTool(t, 'mkfs.vfat', 'mcopy', 'mmd', 'mdel')) return;
  const dir = tempDir(t, 'pidrive-bench-workloads-');
  const a = workloads(path.join(dir, 'a'), QUICK, () => {});
  const b = workloads(path.join(dir, 'b'), QUICK, () => {});
  assert.deepEqual(
    a.map((d) => [d.v1Facts.sha256, d.v2Facts.sha256]),
    b.map((d) => [d.v1Facts.sha256, d.v2Facts.sha256]),
  );
  // D2' keeps every extent of D2 and adds the new writes: it only ever allocates more.
  const d2 = a.find((d) => d.id === 'd2')!;
  assert.ok(d2.v2Facts.allocatedBytes > d2.v1Facts.allocatedBytes);
  assert.equal(d2.v1Facts.apparentBytes, QUICK.imageBytes);
});

test('bad options are refused with the option named', async () => {
  const r = await harness(['--quick', '--runs', '0']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--runs must be a positive integer/);
  const u = await harness(['--quick', '--tools', 'pidrive,duplicati']);
  assert.equal(u.code, 2);
  assert.match(u.stderr, /--tools: unknown tool "duplicati"/);
});
