import type { SnapshotStats } from './format.ts';

export interface ChangeSignalInput {
  changedBlocks: number;
  /** Changed blocks whose new content does not compress (stored raw). */
  incompressibleChanged: number;
  parent: Pick<SnapshotStats, 'changed_blocks' | 'incompressible_ratio' | 'baseline_ratio'> | null;
  /** config.backup.suspicious_change_ratio */
  threshold: number;
  /** config.backup.suspicious_min_blocks */
  minBlocks: number;
}

/**
 * Ransomware encryption looks like a sudden rise of changed blocks that no longer compress. A drive
 * that always holds incompressible data (dash-cam video) must not raise it on every backup, so the
 * share is compared with the drive's baseline: the share of the last snapshot with enough changed
 * blocks to mean something. `suspicious_change` is set when the share crosses the threshold from a
 * baseline at or below it, with at least `minBlocks` changed blocks.
 */
export function changeSignal(input: ChangeSignalInput): Pick<SnapshotStats, 'incompressible_ratio' | 'baseline_ratio' | 'suspicious_change'> {
  const ratio = input.changedBlocks > 0 ? input.incompressibleChanged / input.changedBlocks : 0;
  const p = input.parent;
  const baseline = p === null ? null : p.changed_blocks >= input.minBlocks ? p.incompressible_ratio : p.baseline_ratio;
  const suspicious = baseline !== null && input.changedBlocks >= input.minBlocks && ratio > input.threshold && baseline <= input.threshold;
  return { incompressible_ratio: ratio, baseline_ratio: baseline, suspicious_change: suspicious };
}
