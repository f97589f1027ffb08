import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { z } from 'zod';
import { PiDriveError } from '../core/errors.ts';
import { DriveId } from '../drives/model.ts';
import { decodeChunkInto, encodeChunkInto } from './codec.ts';
import { SnapshotId } from './types.ts';

/**
 * The repository format (docs/repository-format.md). Everything here is the on-disk/on-bucket
 * contract: change it only together with FORMAT_VERSION and the document.
 */
export const FORMAT_VERSION = 1;
export const HASH_BYTES = 32;

/** First byte of every chunk and index object. */
export const CODEC_RAW = 0;
export const CODEC_ZSTD = 1;
/** zstd level 3 (zstd's and restic's default): as fast as level 1 on random data here, and smaller. */
export const ZSTD_LEVEL = 3;
/** Compression must save at least 3 % or the chunk is stored raw (decoding raw costs nothing). */
export const MIN_SAVING = 0.03;

export const KEY_CONFIG = 'config';
export const PREFIX_CHUNKS = 'chunks/';
export const PREFIX_SNAPSHOTS = 'snapshots/';
export const PREFIX_LOCKS = 'locks/';

export function chunkKey(id: string): string {
  return `${PREFIX_CHUNKS}${id.slice(0, 2)}/${id}`;
}

export function chunkIdFromKey(key: string): string | null {
  const m = /^chunks\/[0-9a-f]{2}\/([0-9a-f]{64})$/.exec(key);
  return m ? m[1]! : null;
}

export function manifestKey(drive: string, snapshot: string): string {
  return `${PREFIX_SNAPSHOTS}${drive}/${snapshot}.json`;
}

export function indexKey(drive: string, snapshot: string): string {
  return `${PREFIX_SNAPSHOTS}${drive}/${snapshot}.index`;
}

/** `snapshots/<drive>/<id>.json|.index` → its parts, or null for anything else. */
export function parseSnapshotKey(key: string): { drive: string; snapshot: string; kind: 'manifest' | 'index' } | null {
  const m = /^snapshots\/([a-z0-9][a-z0-9-]{0,31})\/([0-9]{8}T[0-9]{6}Z-[0-9a-f]{6})\.(json|index)$/.exec(key);
  return m ? { drive: m[1]!, snapshot: m[2]!, kind: m[3] === 'json' ? 'manifest' : 'index' } : null;
}

/** Sortable by time, unique enough for one drive: 20250101T120000Z-a1b2c3. */
export function newSnapshotId(time: Date): string {
  const stamp = time.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${crypto.randomBytes(3).toString('hex')}`;
}

export const RepoConfig = z.object({
  format: z.literal('pidrive-repository'),
  version: z.number().int().positive(),
  id: z.string(),
  block_size: z.number().int().positive(),
  hash: z.literal('sha256'),
  created_at: z.string(),
});
export type RepoConfig = z.infer<typeof RepoConfig>;

export const SnapshotStats = z.object({
  data_blocks: z.number().int().nonnegative(),
  data_bytes: z.number().int().nonnegative(),
  changed_blocks: z.number().int().nonnegative(),
  new_chunks: z.number().int().nonnegative(),
  new_bytes: z.number().int().nonnegative(),
  incompressible_changed: z.number().int().nonnegative(),
  incompressible_ratio: z.number().min(0).max(1),
  /** The ratio this snapshot is compared with: the last meaningful one of the drive (docs: change signal). */
  baseline_ratio: z.number().min(0).max(1).nullable(),
  suspicious_change: z.boolean(),
  read_bytes: z.number().int().nonnegative(),
  duration_ms: z.number().int().nonnegative(),
});
export type SnapshotStats = z.infer<typeof SnapshotStats>;

/** What the drive looked like, so a restore into a new drive registers it the same way. */
export const DriveInfo = z.object({
  filesystem: z.string(),
  label: z.string().nullable(),
  partition: z.string(),
  mode: z.string(),
  /** The owning user's id, so a restore of a drive removed since stays private (absent in older snapshots). */
  owner: z.string().nullable().optional(),
});
export type DriveInfo = z.infer<typeof DriveInfo>;

export const Manifest = z.object({
  format: z.literal('pidrive-snapshot'),
  version: z.number().int().positive(),
  id: SnapshotId,
  drive: DriveId,
  time: z.string(),
  hostname: z.string(),
  size_bytes: z.number().int().nonnegative(),
  block_size: z.number().int().positive(),
  parent: SnapshotId.nullable(),
  source: z.enum(['detached', 'reflink', 'file']),
  drive_info: DriveInfo.nullable(),
  index: z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), entries: z.number().int().nonnegative(), bytes: z.number().int().nonnegative() }),
  stats: SnapshotStats,
});
export type Manifest = z.infer<typeof Manifest>;

export function checkVersion(what: string, version: number): void {
  if (version > FORMAT_VERSION) {
    throw new PiDriveError('unsupported', `the ${what} uses repository format ${version}; this PiDrive reads up to ${FORMAT_VERSION}: upgrade PiDrive`);
  }
}

export function encodeObject(plain: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(plain.length + 1);
  return out.subarray(0, encodeChunkInto(zlib, plain, out));
}

export function decodeObject(stored: Uint8Array, maxBytes: number): Buffer {
  const out = Buffer.allocUnsafe(maxBytes);
  return out.subarray(0, decodeChunkInto(zlib, stored, out));
}

/**
 * The block index of a snapshot: which chunk holds which block. Payload (before the codec byte):
 * "PDIX", u8 version, 3 zero bytes, u32 block size, u32 entry count, then per data block in
 * ascending order u32 block number, 32-byte chunk id, u32 stored chunk size (codec byte included).
 * All integers little-endian. Blocks not listed are zero.
 */
const INDEX_MAGIC = Buffer.from('PDIX');
const INDEX_HEADER = 16;
export const INDEX_ENTRY = 4 + HASH_BYTES + 4;

export class BlockIndex {
  /** Packed entries, INDEX_ENTRY bytes each. */
  readonly data: Buffer;
  readonly count: number;
  readonly blockSize: number;

  constructor(data: Buffer, count: number, blockSize: number) {
    this.data = data;
    this.count = count;
    this.blockSize = blockSize;
  }

  block(i: number): number {
    return this.data.readUInt32LE(i * INDEX_ENTRY);
  }

  id(i: number): Buffer {
    return this.data.subarray(i * INDEX_ENTRY + 4, i * INDEX_ENTRY + 4 + HASH_BYTES);
  }

  idHex(i: number): string {
    return this.id(i).toString('hex');
  }

  stored(i: number): number {
    return this.data.readUInt32LE(i * INDEX_ENTRY + 4 + HASH_BYTES);
  }

  /** Entry position of block `block`, or -1 (binary search: entries are sorted by block). */
  find(block: number): number {
    let lo = 0;
    let hi = this.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const b = this.block(mid);
      if (b === block) return mid;
      if (b < block) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  encode(): Buffer {
    const header = Buffer.alloc(INDEX_HEADER);
    INDEX_MAGIC.copy(header, 0);
    header[4] = FORMAT_VERSION;
    header.writeUInt32LE(this.blockSize, 8);
    header.writeUInt32LE(this.count, 12);
    return encodeObject(Buffer.concat([header, this.data.subarray(0, this.count * INDEX_ENTRY)]));
  }

  static decode(stored: Buffer, expectedEntries: number): BlockIndex {
    const plain = decodeObject(stored, INDEX_HEADER + expectedEntries * INDEX_ENTRY);
    if (plain.length < INDEX_HEADER || !plain.subarray(0, 4).equals(INDEX_MAGIC)) throw new Error('not a block index');
    checkVersion('block index', plain[4]!);
    const count = plain.readUInt32LE(12);
    if (count !== expectedEntries || plain.length !== INDEX_HEADER + count * INDEX_ENTRY) throw new Error('block index length does not match its manifest');
    return new BlockIndex(plain.subarray(INDEX_HEADER), count, plain.readUInt32LE(8));
  }
}

/** Appends entries in block order; grows its buffer geometrically. */
export class BlockIndexBuilder {
  #data: Buffer;
  #count = 0;
  readonly #blockSize: number;

  constructor(blockSize: number, expected = 1024) {
    this.#blockSize = blockSize;
    this.#data = Buffer.alloc(Math.max(1, expected) * INDEX_ENTRY);
  }

  add(block: number, id: Buffer, stored: number): void {
    if (this.#count > 0 && this.#data.readUInt32LE((this.#count - 1) * INDEX_ENTRY) >= block) throw new Error('block index entries must ascend');
    if ((this.#count + 1) * INDEX_ENTRY > this.#data.length) {
      const bigger = Buffer.alloc(this.#data.length * 2);
      this.#data.copy(bigger);
      this.#data = bigger;
    }
    const at = this.#count * INDEX_ENTRY;
    this.#data.writeUInt32LE(block, at);
    id.copy(this.#data, at + 4);
    this.#data.writeUInt32LE(stored, at + 4 + HASH_BYTES);
    this.#count++;
  }

  build(): BlockIndex {
    return new BlockIndex(this.#data.subarray(0, this.#count * INDEX_ENTRY), this.#count, this.#blockSize);
  }
}

export function sha256Hex(data: Uint8Array): string {
  return crypto.hash('sha256', data, 'hex');
}
