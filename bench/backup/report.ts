import type { Dataset } from './workloads.ts';
import type { Measured, Stored } from './measure.ts';

export interface ToolResult {
  id: string;
  label: string;
  first: Measured;
  incremental: Measured;
  storedV1: Stored;
  storedV2: Stored;
  restore: Measured;
  restored: { sha256: string; identical: boolean; allocatedBytes: number };
  /** This tool's figure divided by PiDrive's: above 1 means PiDrive is faster, smaller or leaner. */
  ratios: { first: number; incremental: number; cpuFirst: number; cpuIncremental: number; storedV2: number; restore: number; peakRss: number } | null;
}

export interface DatasetResult {
  dataset: Dataset;
  /** Cold sequential read of the data extents only: no backup of this image can be faster. */
  physical: { v1: { seconds: number; bytes: number }; v2: { seconds: number; bytes: number } };
  tools: ToolResult[];
}

export interface Target {
  dataset: string;
  check: string;
  value: number;
  pass: boolean;
}

const MiB = 1024 * 1024;

/** cp keeps whole sparse copies: their apparent size is the image size, so count what is allocated. */
export const storedBytes = (t: Pick<ToolResult, 'id'>, s: Stored): number => (t.id === 'cp' ? s.allocatedBytes : s.apparentBytes);

export function peakRss(t: ToolResult): number {
  return Math.max(t.first.maxRssKiB, t.incremental.maxRssKiB, t.restore.maxRssKiB);
}

export function withRatios(tools: ToolResult[], baseId: string): ToolResult[] {
  const base = tools.find((t) => t.id === baseId);
  if (!base) return tools;
  return tools.map((t) => ({
    ...t,
    ratios: {
      first: t.first.wallS / base.first.wallS,
      incremental: t.incremental.wallS / base.incremental.wallS,
      cpuFirst: t.first.cpuS / base.first.cpuS,
      cpuIncremental: t.incremental.cpuS / base.incremental.cpuS,
      storedV2: storedBytes(t, t.storedV2) / storedBytes(base, base.storedV2),
      restore: t.restore.wallS / base.restore.wallS,
      peakRss: peakRss(t) / peakRss(base),
    },
  }));
}

/** The issue's acceptance target: ≥ 3× restic's speed on both backups, no more bytes than restic. */
export function targets(results: DatasetResult[]): Target[] {
  const out: Target[] = [];
  for (const r of results) {
    const restic = r.tools.find((t) => t.id === 'restic');
    const ours = r.tools.find((t) => t.id === 'pidrive');
    if (!restic || !ours) continue;
    const d = r.dataset.id;
    const first = restic.first.wallS / ours.first.wallS;
    const incr = restic.incremental.wallS / ours.incremental.wallS;
    out.push({ dataset: d, check: 'first backup: restic time / PiDrive time ≥ 3', value: first, pass: first >= 3 });
    out.push({ dataset: d, check: 'incremental: restic time / PiDrive time ≥ 3', value: incr, pass: incr >= 3 });
    for (const v of ['storedV1', 'storedV2'] as const) {
      const ratio = ours[v].apparentBytes / restic[v].apparentBytes;
      out.push({ dataset: d, check: `stored after ${v.slice(-2).toLowerCase()}: PiDrive bytes / restic bytes ≤ 1`, value: ratio, pass: ratio <= 1 });
    }
  }
  return out;
}

const s = (x: number): string => (x < 10 ? x.toFixed(2) : x.toFixed(1));
const mib = (b: number): string => (b / MiB < 10 ? (b / MiB).toFixed(1) : (b / MiB).toFixed(0));
const ratio = (x: number | undefined): string => (x === undefined ? '' : ` (${x.toFixed(x < 10 ? 2 : 1)}×)`);

export function markdown(results: DatasetResult[], notes: string[]): string {
  const lines: string[] = [];
  for (const r of results) {
    const d = r.dataset;
    lines.push(
      `### ${d.title}: ${mib(d.v1Facts.apparentBytes)} MiB image, ${mib(d.v1Facts.allocatedBytes)} → ${mib(d.v2Facts.allocatedBytes)} MiB allocated`,
      '',
      `${d.change}.`,
      '',
      '| tool | first backup | incremental | CPU first / incremental | stored v1 → v2 (MiB) | restore v2 | peak RSS | restored v2 |',
      '|---|---|---|---|---|---|---|---|',
      `| read data extents once (limit) | ${s(r.physical.v1.seconds)} s | ${s(r.physical.v2.seconds)} s | | | | | |`,
    );
    for (const t of r.tools) {
      const q = t.ratios;
      lines.push(
        `| ${t.label} | ${s(t.first.wallS)} s${ratio(q?.first)} | ${s(t.incremental.wallS)} s${ratio(q?.incremental)} | ` +
          `${s(t.first.cpuS)} / ${s(t.incremental.cpuS)} s${q ? ` (${q.cpuFirst.toFixed(2)}× / ${q.cpuIncremental.toFixed(2)}×)` : ''} | ` +
          `${mib(storedBytes(t, t.storedV1))} → ${mib(storedBytes(t, t.storedV2))}${ratio(q?.storedV2)} | ${s(t.restore.wallS)} s${ratio(q?.restore)} | ` +
          `${mib(peakRss(t) * 1024)} MiB${ratio(q?.peakRss)} | ${t.restored.identical ? 'identical' : '**DIFFERENT**'}, ${mib(t.restored.allocatedBytes)} MiB allocated |`,
      );
    }
    lines.push('');
  }
  const tg = targets(results);
  if (tg.length > 0) {
    lines.push('Targets:', '');
    for (const t of tg) lines.push(`- ${t.dataset}: ${t.check}: ${t.value.toPrecision(4)} ${t.pass ? 'PASS' : '**FAIL**'}`);
    lines.push('');
  }
  for (const n of notes) lines.push(`Note: ${n}`);
  return lines.join('\n');
}
