import fsp from 'node:fs/promises';
import { PiDriveError } from '../core/errors.ts';
import { readFully, type ProgressUpdate } from './backup-image.ts';
import { chunkKey, type Manifest } from './format.ts';
import { ObjectNotFound } from './object-store.ts';
import { orderedPipeline } from './pipeline.ts';
import type { Repository } from './repository.ts';
import { defaultWorkers, WorkerPool } from './worker-pool.ts';

export interface RestoreOptions {
  repo: Repository;
  manifest: Manifest;
  /** Created or truncated; the caller renames it into place. */
  outputPath: string;
  /** Make the output at least this long (an in-place restore of a drive grown since the snapshot). */
  minSize?: number;
  workers?: number;
  signal?: AbortSignal;
  onProgress?: (p: ProgressUpdate) => void;
  lockWaitMs?: number;
}

export interface RestoreResult {
  size_bytes: number;
  data_blocks: number;
  bytes_written: number;
}

const PAGE = 4096;
const INFLIGHT_BYTES = 48 * 1024 * 1024;

/**
 * Writes a snapshot into a sparse file: the file is truncated to its size (all holes), then only
 * the non-zero 4 KiB pages of each block are written. Every chunk is checked against its SHA-256
 * id when decoded, and every written block is read back and hashed again before success.
 */
export async function restoreSnapshot(o: RestoreOptions): Promise<RestoreResult> {
  const { repo, manifest } = o;
  const B = manifest.block_size;
  const lock = await repo.lock({ exclusive: false, operation: `restore of ${manifest.drive}`, waitMs: o.lockWaitMs ?? 3_600_000, signal: o.signal });
  const signal = o.signal ? AbortSignal.any([o.signal, lock.lost]) : lock.lost;
  let pool: WorkerPool | null = null;
  let fh: fsp.FileHandle | null = null;
  try {
    const index = await repo.index(manifest);
    const entries = Array.from({ length: index.count }, (_, i) => i);
    const total = entries.reduce((s, i) => s + blockLength(index.block(i), B, manifest.size_bytes), 0);
    const size = Math.max(manifest.size_bytes, o.minSize ?? 0);
    fh = await fsp.open(o.outputPath, 'w+', 0o600);
    await fh.truncate(size);
    const workers = defaultWorkers(o.workers);
    const limit = Math.max(4, Math.min(Math.floor(INFLIGHT_BYTES / B), workers * 4));
    pool = new WorkerPool({ workers, blockSize: B, slots: limit });
    let written = 0;
    let done = 0;

    await orderedPipeline(
      entries,
      limit,
      async (i) => {
        const id = index.idHex(i);
        const block = index.block(i);
        const slot = await pool!.acquire();
        try {
          let stored: Buffer;
          try {
            stored = await repo.store.get(chunkKey(id), slot.out);
          } catch (err) {
            if (err instanceof ObjectNotFound) throw damaged(manifest, id, 'is missing');
            throw err;
          }
          if (stored.length > B + 1) throw damaged(manifest, id, 'is larger than a block');
          if (stored.buffer !== slot.out.buffer) stored.copy(slot.out);
          const r = await pool!.decode(slot, stored.length, id);
          if (!r.ok) throw damaged(manifest, id, r.problem === 'hash_mismatch' ? 'does not match its hash' : 'cannot be decoded');
          const len = blockLength(block, B, manifest.size_bytes);
          if (r.plain.length !== len) throw damaged(manifest, id, `holds ${r.plain.length} bytes where ${len} belong`);
          const bytes = await writeSparse(fh!, r.plain, block * B);
          written += bytes;
        } finally {
          pool!.release(slot);
        }
      },
      (_r, i) => {
        done += blockLength(index.block(i), B, manifest.size_bytes);
        o.onProgress?.({ phase: 'restoring', done, total });
      },
      signal,
    );
    await fh.datasync();

    // Read back: what is on disk must hash to the chunk ids (catches lost or misdirected writes).
    done = 0;
    await orderedPipeline(
      entries,
      limit,
      async (i) => {
        const len = blockLength(index.block(i), B, manifest.size_bytes);
        const slot = await pool!.acquire();
        try {
          await readFully(fh!, slot.block.subarray(0, len), index.block(i) * B);
          if ((await pool!.hash(slot, len)) !== index.idHex(i)) {
            throw new PiDriveError('internal', `restored block ${index.block(i)} reads back differently from what was written; the target disk may be failing`);
          }
        } finally {
          pool!.release(slot);
        }
        return len;
      },
      (len) => {
        done += len;
        o.onProgress?.({ phase: 'verifying', done, total });
      },
      signal,
    );
    return { size_bytes: size, data_blocks: index.count, bytes_written: written };
  } finally {
    await pool?.close();
    await fh?.close();
    await lock.release().catch(() => {});
  }
}

function blockLength(block: number, B: number, size: number): number {
  return Math.min(B, size - block * B);
}

/** Writes only runs of non-zero pages, so zero pages inside a block stay holes. */
async function writeSparse(fh: fsp.FileHandle, block: Buffer, position: number): Promise<number> {
  let written = 0;
  let runStart = -1;
  for (let off = 0; off < block.length + PAGE; off += PAGE) {
    const end = Math.min(off + PAGE, block.length);
    const isData = off < block.length && !block.subarray(off, end).equals(ZERO_PAGE.subarray(0, end - off));
    if (isData && runStart < 0) runStart = off;
    if (!isData && runStart >= 0) {
      const stop = Math.min(off, block.length);
      for (let at = runStart; at < stop; ) at += (await fh.write(block, at, stop - at, position + at)).bytesWritten;
      written += stop - runStart;
      runStart = -1;
    }
  }
  return written;
}

const ZERO_PAGE = Buffer.alloc(PAGE);

function damaged(manifest: Manifest, id: string, what: string): PiDriveError {
  return new PiDriveError('internal', `snapshot ${manifest.id} of "${manifest.drive}" cannot be restored: chunk ${id} ${what}; run "pidrive backup verify" to see every affected snapshot`);
}
