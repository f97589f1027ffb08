import crypto from 'node:crypto';
import fs from 'node:fs';
import { PiDriveError } from '../core/errors.ts';
import { dataExtents } from '../core/sparse.ts';
import { runTool, toolPath } from '../core/tools.ts';
import type { z } from 'zod';
import type { CreateFilesystem, Filesystem, PartitionScheme } from './model.ts';

/** One partition aligned at 1 MiB, as every current partitioning tool does. */
export const PARTITION_OFFSET = 1024 * 1024;
const SECTOR = 512;
const MBR_TYPE: Record<z.infer<typeof CreateFilesystem>, number> = { fat32: 0x0c, exfat: 0x07, none: 0x83 };
/** FAT32 needs at least 65525 clusters; with 512-byte clusters that is about 33 MiB of partition. */
const MIN_FS_BYTES: Record<z.infer<typeof CreateFilesystem>, number> = { fat32: 34 * 1024 * 1024, exfat: 4 * 1024 * 1024, none: 0 };

export interface FormatSpec {
  filesystem: z.infer<typeof CreateFilesystem>;
  label: string | null;
  partition: z.infer<typeof PartitionScheme>;
}

export function checkFormatSpec(spec: FormatSpec, sizeBytes: number): void {
  const fsBytes = sizeBytes - (spec.partition === 'mbr' ? PARTITION_OFFSET : 0);
  if (fsBytes < Math.max(MIN_FS_BYTES[spec.filesystem], SECTOR)) {
    const min = Math.ceil((MIN_FS_BYTES[spec.filesystem] + (spec.partition === 'mbr' ? PARTITION_OFFSET : 0)) / 2 ** 20);
    throw new PiDriveError('bad_request', `a ${spec.filesystem} drive${spec.partition === 'mbr' ? ' with a partition table' : ''} needs at least ${min} MiB`, { size: `at least ${min}M` });
  }
  if (spec.label !== null) {
    if (spec.filesystem === 'none') throw new PiDriveError('bad_request', 'a label needs a filesystem (--fs fat32 or exfat)', { label: 'needs a filesystem' });
    const max = spec.filesystem === 'fat32' ? 11 : 15;
    const allowed = spec.filesystem === 'fat32' ? /^[A-Za-z0-9 !#$%&'()\-@^_`{}~]+$/ : /^[^\x00-\x1f"*/:<>?\\|]+$/;
    if (spec.label.length > max || !allowed.test(spec.label)) {
      throw new PiDriveError('bad_request', `a ${spec.filesystem} label is 1-${max} characters without control characters or "*/:<>?\\|${spec.filesystem === 'fat32' ? '.+,;=[]' : ''}`, { label: 'invalid label' });
    }
  }
}

/** Writes a DOS partition table with one partition from 1 MiB to the end of the image. */
export function writeMbr(fd: number, sizeBytes: number, type: number): void {
  const mbr = Buffer.alloc(SECTOR);
  crypto.randomFillSync(mbr, 440, 4); // disk signature: Windows tells disks apart by it
  const entry = 446;
  const startLba = PARTITION_OFFSET / SECTOR;
  const sectors = Math.floor(sizeBytes / SECTOR) - startLba;
  mbr[entry] = 0x00;
  mbr.set([0xfe, 0xff, 0xff], entry + 1); // CHS unused: LBA addressing only
  mbr[entry + 4] = type;
  mbr.set([0xfe, 0xff, 0xff], entry + 5);
  mbr.writeUInt32LE(startLba, entry + 8);
  mbr.writeUInt32LE(sectors, entry + 12);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  fs.writeSync(fd, mbr, 0, SECTOR, 0);
}

/** Grows the single MBR partition to the end of the image, if the image has one. */
export function growMbrPartition(fd: number, sizeBytes: number): boolean {
  const mbr = Buffer.alloc(SECTOR);
  fs.readSync(fd, mbr, 0, SECTOR, 0);
  if (mbr[510] !== 0x55 || mbr[511] !== 0xaa) return false;
  const startLba = mbr.readUInt32LE(446 + 8);
  if (startLba === 0 || mbr[446 + 4] === 0) return false;
  mbr.writeUInt32LE(Math.floor(sizeBytes / SECTOR) - startLba, 446 + 12);
  fs.writeSync(fd, mbr, 0, SECTOR, 0);
  return true;
}

/**
 * Formats a freshly truncated sparse image. FAT32 is written in place (mkfs.vfat --offset);
 * mkfs.exfat has no offset option, so exFAT is made in a sparse side file and only its data
 * extents are copied in: the cost follows the metadata written, never the drive size.
 */
export async function formatImage(file: string, sizeBytes: number, spec: FormatSpec, signal?: AbortSignal): Promise<void> {
  const offset = spec.partition === 'mbr' ? PARTITION_OFFSET : 0;
  const fsBytes = sizeBytes - offset;
  if (spec.partition === 'mbr') {
    const fd = fs.openSync(file, 'r+');
    try {
      writeMbr(fd, sizeBytes, MBR_TYPE[spec.filesystem]);
    } finally {
      fs.closeSync(fd);
    }
  }
  if (spec.filesystem === 'fat32') {
    const args = ['-F', '32', '--offset', String(offset / SECTOR)];
    if (spec.label) args.push('-n', spec.label);
    // The size argument (KiB) keeps mkfs inside the partition instead of the whole file.
    await runTool('mkfs.vfat', [...args, file, String(Math.floor(fsBytes / 1024))], { signal });
  } else if (spec.filesystem === 'exfat') {
    const side = `${file}.exfat`;
    try {
      fs.closeSync(fs.openSync(side, 'w', 0o600));
      fs.truncateSync(side, fsBytes);
      await runTool('mkfs.exfat', [...(spec.label ? ['-L', spec.label] : []), side], { signal });
      copyExtents(side, file, offset);
    } finally {
      fs.rmSync(side, { force: true });
    }
  }
}

function copyExtents(from: string, to: string, atOffset: number): void {
  const src = fs.openSync(from, 'r');
  const dst = fs.openSync(to, 'r+');
  try {
    const buf = Buffer.allocUnsafe(1024 * 1024);
    for (const extent of dataExtents(src)) {
      for (let done = 0; done < extent.length; ) {
        const n = fs.readSync(src, buf, 0, Math.min(buf.length, extent.length - done), extent.offset + done);
        if (n === 0) break;
        fs.writeSync(dst, buf, 0, n, atOffset + extent.offset + done);
        done += n;
      }
    }
    fs.fsyncSync(dst);
  } finally {
    fs.closeSync(src);
    fs.closeSync(dst);
  }
}

export interface DetectedLayout {
  filesystem: z.infer<typeof Filesystem>;
  label: string | null;
  partition: z.infer<typeof PartitionScheme>;
}

/** What an imported image holds, read with blkid (util-linux) so any filesystem it knows is named. */
export async function detectLayout(file: string): Promise<DetectedLayout> {
  if (!toolPath('blkid')) return { filesystem: 'unknown', label: null, partition: 'none' };
  const probe = async (offset: number): Promise<Record<string, string>> => {
    try {
      const out = await runTool('blkid', ['-p', '-o', 'export', ...(offset ? ['-O', String(offset)] : []), file]);
      return Object.fromEntries(out.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    } catch {
      return {}; // blkid exits 2 when it finds nothing
    }
  };
  const whole = await probe(0);
  let partition: DetectedLayout['partition'] = 'none';
  let found = whole;
  if (whole.PTTYPE === 'dos' && !whole.TYPE) {
    partition = 'mbr';
    const fd = fs.openSync(file, 'r');
    const mbr = Buffer.alloc(SECTOR);
    fs.readSync(fd, mbr, 0, SECTOR, 0);
    fs.closeSync(fd);
    found = await probe(mbr.readUInt32LE(446 + 8) * SECTOR);
  }
  const types: Record<string, DetectedLayout['filesystem']> = { vfat: 'fat32', exfat: 'exfat', iso9660: 'iso9660' };
  const filesystem = found.TYPE ? (types[found.TYPE] ?? 'unknown') : 'none';
  return { filesystem, label: found.LABEL ?? null, partition };
}

/** Copies a file keeping holes: only data extents are read, all-zero blocks are skipped. */
export async function copySparse(
  from: string,
  to: string,
  onProgress?: (done: number, total: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  const src = fs.openSync(from, 'r');
  const dst = fs.openSync(to, 'w', 0o600);
  try {
    const size = fs.fstatSync(src).size;
    fs.ftruncateSync(dst, size);
    const extents = dataExtents(src, size);
    const total = extents.reduce((n, e) => n + e.length, 0);
    const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
    const zero = Buffer.alloc(64 * 1024);
    let done = 0;
    for (const extent of extents) {
      for (let pos = 0; pos < extent.length; ) {
        signal?.throwIfAborted();
        const n = await new Promise<number>((resolve, reject) =>
          fs.read(src, buf, 0, Math.min(buf.length, extent.length - pos), extent.offset + pos, (e, r) => (e ? reject(e) : resolve(r))),
        );
        if (n === 0) break;
        for (let i = 0; i < n; i += zero.length) {
          const len = Math.min(zero.length, n - i);
          if (!buf.subarray(i, i + len).equals(zero.subarray(0, len))) fs.writeSync(dst, buf, i, len, extent.offset + pos + i);
        }
        pos += n;
        done += n;
        onProgress?.(done, total);
      }
    }
    fs.fsyncSync(dst);
  } finally {
    fs.closeSync(src);
    fs.closeSync(dst);
  }
}
