import fs from 'node:fs';
import koffi from 'koffi';

/**
 * Data extents of a sparse file via lseek(SEEK_DATA/SEEK_HOLE). Node has no lseek, so libc is
 * called through koffi (prebuilt inside its npm package). On filesystems without hole reporting
 * (some network filesystems) the kernel reports the whole file as data, which stays correct.
 */
const SEEK_DATA = 3;
const SEEK_HOLE = 4;
const ENXIO = 6;

let lseek: ((fd: number, offset: bigint | number, whence: number) => bigint | number) | null = null;

function libcLseek(): NonNullable<typeof lseek> {
  lseek ??= koffi.load('libc.so.6').func('int64_t lseek(int fd, int64_t offset, int whence)') as NonNullable<typeof lseek>;
  return lseek;
}

export interface Extent {
  offset: number;
  length: number;
}

export function dataExtents(fd: number, size = fs.fstatSync(fd).size): Extent[] {
  const seek = libcLseek();
  const extents: Extent[] = [];
  let pos = 0;
  while (pos < size) {
    const data = Number(seek(fd, pos, SEEK_DATA));
    if (data < 0) {
      const errno = koffi.errno();
      if (errno === ENXIO) break;
      throw new Error(`lseek(SEEK_DATA) failed with errno ${errno}`);
    }
    const hole = Math.min(Number(seek(fd, data, SEEK_HOLE)), size);
    if (hole <= data) break;
    extents.push({ offset: data, length: hole - data });
    pos = hole;
  }
  return extents;
}

/** Bytes actually allocated on disk (st_blocks is in 512-byte units whatever the block size). */
export function allocatedBytes(file: string): number {
  return fs.statSync(file).blocks * 512;
}
