import { PiDriveError } from '../core/errors.ts';
import type { ProgressUpdate } from './backup-image.ts';
import { chunkIdFromKey, manifestKey, parseSnapshotKey, PREFIX_CHUNKS, PREFIX_SNAPSHOTS } from './format.ts';
import type { Repository } from './repository.ts';
import { selectKept } from './retention.ts';
import type { KeepPolicy, PruneReport } from './types.ts';

export interface RetentionPolicy {
  keep: KeepPolicy;
  /** Default: every drive. */
  drives?: readonly string[];
  /** Time zone of the hourly/daily/weekly/monthly periods (default UTC). */
  timeZone?: string;
}

export interface PruneOptions {
  repo: Repository;
  /**
   * Keep policies; each drive follows the first policy naming it (or naming no drives). Drives no
   * policy covers keep every snapshot. An empty list only collects garbage.
   */
  policies: ReadonlyArray<RetentionPolicy>;
  /** Unreferenced chunks younger than this stay (config.backup.gc_grace_hours). */
  graceMs: number;
  /** How long garbage collection waits for running backups to finish (default 6 h). */
  lockWaitMs?: number;
  signal?: AbortSignal;
  onProgress?: (p: ProgressUpdate) => void;
  onLockWait?: (holder: string) => void;
  now?: () => Date;
}

/**
 * 1. Forget: under a shared lock (backups go on), remove the manifests the keep policy drops.
 * 2. Collect: under the exclusive lock (it waits for running backups, and new ones wait for it),
 *    delete chunks no remaining snapshot references and older than the grace period. A backup
 *    never runs while chunks are deleted, and a crashed backup's chunks survive the grace period
 *    so the next backup reuses them.
 */
export async function pruneRepository(o: PruneOptions): Promise<PruneReport> {
  const { repo } = o;
  const now = o.now ?? (() => new Date());
  const removed: PruneReport['removed_snapshots'] = [];
  let keptCount = 0;

  const shared = await repo.lock({ exclusive: false, operation: 'prune (forget)', waitMs: o.lockWaitMs ?? 6 * 3_600_000, signal: o.signal, onWait: o.onLockWait });
  try {
    o.onProgress?.({ phase: 'forgetting', done: 0, total: 0 });
    const { manifests } = await repo.snapshots();
    const byDrive = new Map<string, typeof manifests>();
    for (const m of manifests) byDrive.set(m.drive, [...(byDrive.get(m.drive) ?? []), m]);
    for (const [drive, list] of byDrive) {
      const policy = o.policies.find((p) => !p.drives || p.drives.includes(drive));
      if (!policy) {
        keptCount += list.length;
        continue;
      }
      const kept = selectKept(list, policy.keep, policy.timeZone);
      for (const m of list) {
        if (kept.has(m.id)) {
          keptCount++;
          continue;
        }
        o.signal?.throwIfAborted();
        await repo.forget(drive, m.id);
        removed.push({ drive, snapshot: m.id });
      }
    }
  } finally {
    await shared.release().catch(() => {});
  }

  const lock = await repo.lock({ exclusive: true, operation: 'prune (garbage collection)', waitMs: o.lockWaitMs ?? 6 * 3_600_000, signal: o.signal, onWait: o.onLockWait });
  const signal = o.signal ? AbortSignal.any([o.signal, lock.lost]) : lock.lost;
  try {
    const cutoff = new Date(now().getTime() - o.graceMs);
    o.onProgress?.({ phase: 'reading snapshots', done: 0, total: 0 });
    const { manifests, damaged } = await repo.snapshots();
    if (damaged.length > 0) throw gcRefused(`${damaged[0]!.snapshot} of "${damaged[0]!.drive}"`);
    const referenced = new Set<string>();
    for (const m of manifests) {
      let index;
      try {
        index = await repo.index(m);
      } catch {
        throw gcRefused(`${m.id} of "${m.drive}"`);
      }
      for (let i = 0; i < index.count; i++) referenced.add(index.idHex(i));
    }

    // Indexes without a manifest: a backup killed between its index and its manifest.
    const leftovers: string[] = [];
    for await (const info of repo.store.list(PREFIX_SNAPSHOTS)) {
      const p = parseSnapshotKey(info.key);
      if (p?.kind !== 'index' || info.mtime >= cutoff) continue;
      if (!(await repo.store.head(manifestKey(p.drive, p.snapshot)))) leftovers.push(info.key);
    }
    await repo.store.delete(leftovers);

    o.onProgress?.({ phase: 'collecting garbage', done: 0, total: 0 });
    const garbage: string[] = [];
    let garbageBytes = 0;
    let grace = 0;
    for await (const info of repo.store.list(PREFIX_CHUNKS)) {
      const id = chunkIdFromKey(info.key);
      if (!id || referenced.has(id)) continue;
      if (info.mtime >= cutoff) grace++;
      else {
        garbage.push(info.key);
        garbageBytes += info.size;
      }
    }
    signal.throwIfAborted();
    for (let i = 0; i < garbage.length; i += 1000) {
      signal.throwIfAborted();
      await repo.store.delete(garbage.slice(i, i + 1000));
      o.onProgress?.({ phase: 'collecting garbage', done: Math.min(i + 1000, garbage.length), total: garbage.length });
    }
    const temp = await repo.store.removeLeftovers(cutoff);
    return {
      removed_snapshots: removed,
      kept_snapshots: keptCount,
      removed_chunks: garbage.length,
      removed_bytes: garbageBytes,
      grace_chunks: grace,
      removed_leftovers: leftovers.length + temp,
    };
  } finally {
    await lock.release().catch(() => {});
  }
}

function gcRefused(which: string): PiDriveError {
  return new PiDriveError(
    'internal',
    `garbage collection refused: snapshot ${which} cannot be read, so the chunks it needs are unknown; run "pidrive backup verify" and repair or forget it first`,
  );
}
