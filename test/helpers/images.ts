import fs from 'node:fs';
import { run } from './tools.ts';

/** Copies the first partition (at 1 MiB) out of an MBR image, sparse, so fsck tools without an offset option can check it. */
export function extractPartition(image: string, out: string): string {
  const size = fs.statSync(image).size;
  run('dd', [`if=${image}`, `of=${out}`, 'bs=1M', 'skip=1', `count=${Math.ceil(size / 2 ** 20) - 1}`, 'conv=sparse', 'status=none']);
  return out;
}

export function allocated(file: string): number {
  return fs.statSync(file).blocks * 512;
}
