import fs from 'node:fs';
import path from 'node:path';
import { PiDriveError } from '../core/errors.ts';

/**
 * The only way a file name becomes a path: joined inside the pool and checked both lexically and
 * after resolving symlinks, so `../`, absolute paths, NUL bytes and a symlink planted inside the pool
 * pointing out all end in a refusal.
 */
export function pathInPool(poolDir: string, relative: string, field = 'path'): string {
  if (relative.length === 0 || relative.includes('\0') || path.isAbsolute(relative)) {
    throw new PiDriveError('bad_request', `${field} must be a relative file name inside the pool`, { [field]: 'not a relative name' });
  }
  const root = fs.realpathSync(poolDir);
  const joined = path.resolve(root, relative);
  if (!isInside(root, joined)) {
    throw new PiDriveError('bad_request', `${field} leaves the pool`, { [field]: 'outside the pool' });
  }
  // The file may not exist yet: check the deepest entry that does (lstat: a dangling link is an entry too).
  let probe = joined;
  while (!lexists(probe)) probe = path.dirname(probe);
  let real: string | null = null;
  try {
    real = fs.realpathSync(probe);
  } catch {
    // a dangling symbolic link
  }
  if (real === null || !isInside(root, real) || (probe === joined && fs.lstatSync(joined).isSymbolicLink())) {
    throw new PiDriveError('bad_request', `${field} resolves outside the pool through a symbolic link`, { [field]: 'symbolic link' });
  }
  return joined;
}

/** True when `child` is `root` itself or below it (both already absolute and normalized). */
export function isInside(root: string, child: string): boolean {
  const rel = path.relative(root, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function lexists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
