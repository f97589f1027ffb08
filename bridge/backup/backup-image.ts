import fsp from 'node:fs/promises';
import os from 'node:os';
import { dataExtents } from '../core/sparse.ts';
import { changeSignal } from './change-signal.ts';
import {
  BlockIndex,
  BlockIndexBuilder,
  chunkKey,
  FORMAT_VERSION,
  HASH_BYTES,
  newSnapshotId,
  type DriveInfo,
  type Manifest,
} from './format.ts';
import { orderedPipeline, serial } from './pipeline.ts';
import type { Repository } from './repository.ts';
import { defaultWorkers, WorkerPool, type SharedIdSet } from './worker-pool.ts';

export interface ProgressUpdate {
  phase: string;
  done: number;
  total: number;
}

export interface BackupImageOptions {
  repo: Repository;
  /** A consistent image: detached, a reflink clone, or any file nobody writes meanwhile. */
  imagePath: string;
  driveId: string;
  /** When the image was captured (default: now). */
  time?: Date;
  source?: Manifest['source'];
  driveInfo?: DriveInfo | null;
  /** Worker threads; default one per core. */
  workers?: number;
  signal?: AbortSignal;
  onProgress?: (p: ProgressUpdate) => void;
  suspicious?: { ratio: number; minBlocks: number };
  /** How long to wait for garbage collection holding the repository (default 1 h). */
  lockWaitMs?: number;
  onLockWait?: (holder: string) => void;
  /** Last check before the snapshot is committed; throwing discards it (e.g. the drive got attached). */
  beforeCommit?: () => void;
}

/** Bytes of block data in flight (read, hashing, compressing, uploading): the memory bound. */
const INFLIGHT_BYTES = 48 * 1024 * 1024;

/**
 * One snapshot of a sparse image: reads only the data extents (SEEK_DATA/SEEK_HOLE), skips zero
 * blocks, hashes and compresses on worker threads, uploads chunks the repository lacks, then
 * commits the manifest. Interrupted at any point, it leaves no snapshot, only reusable chunks.
 */
export async function backupImage(o: BackupImageOptions): Promise<Manifest> {
  const started = performance.now();
  const { repo } = o;
  const B = repo.blockSize;
  const time = o.time ?? new Date();
  const lock = await repo.lock({ exclusive: false, operation: `backup of ${o.driveId}`, waitMs: o.lockWaitMs ?? 3_600_000, signal: o.signal, onWait: o.onLockWait });
  const signal = o.signal ? AbortSignal.any([o.signal, lock.lost]) : lock.lost;
  let pool: WorkerPool | null = null;
  let fh: fsp.FileHandle | null = null;
  try {
    const parent = (await repo.snapshots(o.driveId)).manifests.find((m) => m.block_size === B) ?? null;
    let parentIndex: BlockIndex | null = null;
    if (parent) {
      try {
        parentIndex = await repo.index(parent);
      } catch {
        parentIndex = null; // a damaged parent only costs deduplication by content (every chunk is checked)
      }
    }
    const known = knownSet(parentIndex);

    fh = await fsp.open(o.imagePath, 'r');
    const size = (await fh.stat()).size;
    const blocks = dataBlocks(dataExtents(fh.fd, size), B, size);
    const total = blocks.reduce((sum, b) => sum + Math.min(B, size - b * B), 0);

    const workers = defaultWorkers(o.workers);
    const limit = Math.max(4, Math.min(Math.floor(INFLIGHT_BYTES / B), workers * 4));
    pool = new WorkerPool({ workers, blockSize: B, slots: limit, known: known.shared });
    const zero = Buffer.alloc(B);
    const read = serial();
    const builder = new BlockIndexBuilder(B, blocks.length);
    const stats = { data_blocks: 0, data_bytes: 0, changed: 0, incompressible: 0, new_chunks: 0, new_bytes: 0, read_bytes: 0, parentSeen: 0 };
    const present = new Set<string>();
    const uploading = new Map<string, Promise<void>>();
    let done = 0;

    // Uploads a chunk the repository may lack; true only for the caller that actually wrote it.
    const store = async (id: string, stored: Buffer): Promise<boolean> => {
      if (present.has(id)) return false;
      const pending = uploading.get(id);
      if (pending) {
        await pending;
        return false;
      }
      let wrote = false;
      const upload = (async () => {
        const key = chunkKey(id);
        // An object of another size is not this chunk whole: a run killed mid-upload leaves a
        // truncated object on stores whose PUT is not atomic (s3rver, some NAS gateways), and a
        // power cut before syncfs can leave an empty renamed file. Encoding is deterministic (a new
        // zstd version at worst re-uploads a whole chunk), so comparing sizes costs nothing.
        const existing = await repo.store.head(key);
        if (existing?.size !== stored.length) {
          await repo.store.put(key, stored);
          wrote = true;
        }
      })();
      uploading.set(id, upload);
      try {
        await upload;
        present.add(id);
      } finally {
        uploading.delete(id);
      }
      return wrote;
    };

    type Result = { zero: true; len: number } | { zero: false; len: number; id: string; stored: number; raw: boolean };
    await orderedPipeline<number, Result>(
      blocks,
      limit,
      async (b) => {
        const len = Math.min(B, size - b * B);
        const slot = await pool!.acquire();
        try {
          const buf = slot.block.subarray(0, len);
          await read(() => readFully(fh!, buf, b * B));
          if (buf.equals(len === B ? zero : zero.subarray(0, len))) return { zero: true, len };
          const r = await pool!.chunk(slot, len);
          if (r.known) {
            const stored = known.storedOf(r.id);
            return { zero: false, len, id: r.id, stored, raw: stored > len };
          }
          if (await store(r.id, r.stored)) {
            stats.new_chunks++;
            stats.new_bytes += r.stored.length;
          }
          return { zero: false, len, id: r.id, stored: r.stored.length, raw: r.raw };
        } finally {
          pool!.release(slot);
        }
      },
      (res, b) => {
        stats.read_bytes += res.len;
        done += res.len;
        const at = parentIndex ? parentIndex.find(b) : -1;
        if (at >= 0) stats.parentSeen++;
        if (res.zero) {
          if (at >= 0) stats.changed++;
        } else {
          builder.add(b, Buffer.from(res.id, 'hex'), res.stored);
          stats.data_blocks++;
          stats.data_bytes += res.len;
          if (at < 0 || parentIndex!.idHex(at) !== res.id) {
            stats.changed++;
            if (res.raw) stats.incompressible++;
          }
        }
        o.onProgress?.({ phase: 'reading', done, total });
      },
      signal,
    );
    // Parent data blocks that are holes now (trimmed, or the image shrank) changed too.
    if (parentIndex) stats.changed += parentIndex.count - stats.parentSeen;

    signal.throwIfAborted();
    o.beforeCommit?.();
    o.onProgress?.({ phase: 'committing', done, total });
    const signalStats = changeSignal({
      changedBlocks: stats.changed,
      incompressibleChanged: stats.incompressible,
      parent: parent?.stats ?? null,
      threshold: o.suspicious?.ratio ?? 0.5,
      minBlocks: o.suspicious?.minBlocks ?? 64,
    });
    await repo.store.flush();
    return await repo.writeSnapshot(
      {
        format: 'pidrive-snapshot',
        version: FORMAT_VERSION,
        id: newSnapshotId(time),
        drive: o.driveId,
        time: time.toISOString(),
        hostname: os.hostname(),
        size_bytes: size,
        block_size: B,
        parent: parent?.id ?? null,
        source: o.source ?? 'file',
        drive_info: o.driveInfo ?? null,
        stats: {
          data_blocks: stats.data_blocks,
          data_bytes: stats.data_bytes,
          changed_blocks: stats.changed,
          new_chunks: stats.new_chunks,
          new_bytes: stats.new_bytes,
          incompressible_changed: stats.incompressible,
          ...signalStats,
          read_bytes: stats.read_bytes,
          duration_ms: Math.round(performance.now() - started),
        },
      },
      builder.build(),
    );
  } finally {
    await pool?.close();
    await fh?.close();
    await lock.release().catch(() => {});
  }
}

/** Block numbers touched by the data extents, ascending, each once. */
export function dataBlocks(extents: ReadonlyArray<{ offset: number; length: number }>, blockSize: number, size: number): number[] {
  const out: number[] = [];
  for (const e of extents) {
    const end = Math.min(e.offset + e.length, size);
    if (end <= e.offset) continue;
    let b = Math.floor(e.offset / blockSize);
    if (out.length > 0 && out[out.length - 1]! >= b) b = out[out.length - 1]! + 1;
    const last = Math.floor((end - 1) / blockSize);
    for (; b <= last; b++) out.push(b);
  }
  return out;
}

export async function readFully(fh: fsp.FileHandle, buf: Buffer, position: number): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesRead } = await fh.read(buf, off, buf.length - off, position + off);
    if (bytesRead === 0) {
      buf.fill(0, off); // the file shrank under us: the rest reads as zeros (a hole)
      return;
    }
    off += bytesRead;
  }
}

/** The parent's chunk ids, sorted and shared with the workers, plus their stored sizes. */
function knownSet(index: BlockIndex | null): { shared: SharedIdSet | null; storedOf: (id: string) => number } {
  if (!index || index.count === 0) return { shared: null, storedOf: () => 0 };
  const order = Array.from({ length: index.count }, (_, i) => i).sort((a, b) => Buffer.compare(index.id(a), index.id(b)));
  const unique: number[] = [];
  for (const i of order) if (unique.length === 0 || !index.id(unique[unique.length - 1]!).equals(index.id(i))) unique.push(i);
  const buffer = new SharedArrayBuffer(unique.length * HASH_BYTES);
  const view = Buffer.from(buffer);
  const stored = new Uint32Array(unique.length);
  unique.forEach((i, k) => {
    index.id(i).copy(view, k * HASH_BYTES);
    stored[k] = index.stored(i);
  });
  const storedOf = (hex: string): number => {
    const id = Buffer.from(hex, 'hex');
    let lo = 0;
    let hi = unique.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = Buffer.compare(view.subarray(mid * HASH_BYTES, (mid + 1) * HASH_BYTES), id);
      if (c === 0) return stored[mid]!;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    throw new Error(`chunk ${hex} reported known but not in the parent index`);
  };
  return { shared: { buffer, count: unique.length }, storedOf };
}
