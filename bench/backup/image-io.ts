import crypto from 'node:crypto';
import fs from 'node:fs';

import { allocatedBytes, dataExtents } from '../../bridge/core/sparse.ts';

const BUF = 4 * 1024 * 1024;
const ZERO = Buffer.alloc(BUF);

export interface ImageFacts {
  apparentBytes: number;
  allocatedBytes: number;
  dataExtents: number;
  sha256: string;
}

/**
 * SHA-256 of the whole image as `sha256sum` would compute it, but holes are fed from a zero buffer
 * instead of being read: the kernel would zero-fill page after page of an 8 GiB file for nothing.
 */
export function imageFacts(file: string): ImageFacts {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const extents = dataExtents(fd, size);
    const hash = crypto.createHash('sha256');
    const buf = Buffer.allocUnsafe(BUF);
    let pos = 0;
    const zeros = (n: number): void => {
      for (let left = n; left > 0; left -= BUF) hash.update(left >= BUF ? ZERO : ZERO.subarray(0, left));
    };
    for (const e of extents) {
      zeros(e.offset - pos);
      for (let off = e.offset; off < e.offset + e.length; ) {
        const n = fs.readSync(fd, buf, 0, Math.min(BUF, e.offset + e.length - off), off);
        if (n === 0) throw new Error(`${file}: short read at ${off}`);
        hash.update(buf.subarray(0, n));
        off += n;
      }
      pos = e.offset + e.length;
    }
    zeros(size - pos);
    return { apparentBytes: size, allocatedBytes: allocatedBytes(file), dataExtents: extents.length, sha256: hash.digest('hex') };
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads every data extent once (the least any backup of this image must do); returns bytes read. */
export function readDataExtents(file: string): number {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(BUF);
    let total = 0;
    for (const e of dataExtents(fd)) {
      for (let off = e.offset; off < e.offset + e.length; ) {
        const n = fs.readSync(fd, buf, 0, Math.min(BUF, e.offset + e.length - off), off);
        if (n === 0) break;
        off += n;
        total += n;
      }
    }
    return total;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A copy with the same data extents at the same offsets (zero pages inside them included), as the
 * image would look had it been changed in place. `cp --sparse=always` would punch new holes into
 * zero runs, shifting where tools that follow the extent map (borg --sparse) cut their chunks.
 */
export function copyExtents(from: string, to: string): void {
  const src = fs.openSync(from, 'r');
  const dst = fs.openSync(to, 'w');
  try {
    const size = fs.fstatSync(src).size;
    fs.ftruncateSync(dst, size);
    const buf = Buffer.allocUnsafe(BUF);
    for (const e of dataExtents(src, size)) {
      for (let off = e.offset; off < e.offset + e.length; ) {
        const n = fs.readSync(src, buf, 0, Math.min(BUF, e.offset + e.length - off), off);
        if (n === 0) break;
        fs.writeSync(dst, buf, 0, n, off);
        off += n;
      }
    }
  } finally {
    fs.closeSync(src);
    fs.closeSync(dst);
  }
}
