import crypto from 'node:crypto';
import type { ProgressUpdate } from './backup-image.ts';
import { chunkIdFromKey, chunkKey, PREFIX_CHUNKS } from './format.ts';
import { ObjectNotFound } from './object-store.ts';
import { orderedPipeline } from './pipeline.ts';
import type { Repository } from './repository.ts';
import type { CorruptChunk, VerifyReport } from './types.ts';
import { defaultWorkers, WorkerPool } from './worker-pool.ts';

export interface VerifyOptions {
  repo: Repository;
  /** Share of referenced chunks to re-read and re-hash (each run picks anew); 100 = all. */
  samplePercent?: number;
  workers?: number;
  signal?: AbortSignal;
  onProgress?: (p: ProgressUpdate) => void;
  lockWaitMs?: number;
}

/**
 * Re-reads and re-hashes the chunks every snapshot references (or a random sample of them). Missing
 * chunks are found whatever the sample, from one listing. Each problem names the snapshots that can
 * no longer be restored fully.
 */
export async function verifyRepository(o: VerifyOptions): Promise<VerifyReport> {
  const { repo } = o;
  const percent = Math.min(100, Math.max(0, o.samplePercent ?? 100));
  const lock = await repo.lock({ exclusive: false, operation: 'verify', waitMs: o.lockWaitMs ?? 3_600_000, signal: o.signal });
  const signal = o.signal ? AbortSignal.any([o.signal, lock.lost]) : lock.lost;
  let pool: WorkerPool | null = null;
  try {
    const { manifests, damaged } = await repo.snapshots();
    const referenced = new Map<string, number>();
    const readable = [];
    for (const m of manifests) {
      try {
        const index = await repo.index(m);
        for (let i = 0; i < index.count; i++) referenced.set(index.idHex(i), index.stored(i));
        readable.push(m);
      } catch (err) {
        damaged.push({ drive: m.drive, snapshot: m.id, problem: `block index unreadable: ${(err as Error).message}` });
      }
    }
    const present = new Set<string>();
    for await (const info of repo.store.list(PREFIX_CHUNKS)) {
      const id = chunkIdFromKey(info.key);
      if (id) present.add(id);
    }
    const problems = new Map<string, CorruptChunk['problem']>();
    const toCheck: string[] = [];
    for (const id of referenced.keys()) {
      if (!present.has(id)) problems.set(id, 'missing');
      else if (percent >= 100 || crypto.randomInt(1_000_000) < percent * 10_000) toCheck.push(id);
    }
    present.clear();

    const total = toCheck.reduce((s, id) => s + referenced.get(id)!, 0);
    let done = 0;
    const workers = defaultWorkers(o.workers);
    const maxBlock = Math.max(repo.blockSize, ...readable.map((m) => m.block_size));
    pool = new WorkerPool({ workers, blockSize: maxBlock, slots: workers * 4 });
    await orderedPipeline(
      toCheck,
      pool.slots,
      async (id) => {
        const slot = await pool!.acquire();
        try {
          let stored: Buffer;
          try {
            stored = await repo.store.get(chunkKey(id), slot.out);
          } catch (err) {
            if (err instanceof ObjectNotFound) return { id, problem: 'missing' as const };
            throw err;
          }
          if (stored.length > maxBlock + 1) return { id, problem: 'unreadable' as const };
          if (stored.buffer !== slot.out.buffer) stored.copy(slot.out);
          const r = await pool!.decode(slot, stored.length, id);
          return { id, problem: r.ok ? null : r.problem };
        } finally {
          pool!.release(slot);
        }
      },
      (r) => {
        if (r.problem) problems.set(r.id, r.problem);
        done += referenced.get(r.id)!;
        o.onProgress?.({ phase: 'checking chunks', done, total });
      },
      signal,
    );

    // Second pass only when something is wrong: which snapshots does each bad chunk hurt?
    const affected = new Map<string, CorruptChunk['snapshots']>();
    if (problems.size > 0) {
      for (const m of readable) {
        const index = await repo.index(m);
        for (let i = 0; i < index.count; i++) {
          const id = index.idHex(i);
          if (!problems.has(id)) continue;
          const list = affected.get(id) ?? [];
          if (!list.some((s) => s.drive === m.drive && s.snapshot === m.id)) list.push({ drive: m.drive, snapshot: m.id });
          affected.set(id, list);
        }
      }
    }
    const corrupt: CorruptChunk[] = [...problems].map(([chunk, problem]) => ({ chunk, problem, snapshots: affected.get(chunk) ?? [] }));
    return {
      ok: corrupt.length === 0 && damaged.length === 0,
      snapshots: manifests.length,
      chunks_total: referenced.size,
      chunks_checked: toCheck.length,
      bytes_checked: total,
      sample_percent: percent,
      corrupt,
      damaged_snapshots: damaged,
    };
  } finally {
    await pool?.close();
    await lock.release().catch(() => {});
  }
}
