import path from 'node:path';

import type { Step } from './measure.ts';

/**
 * The tools compared (backup.md §10), each with a fresh repository. Images are always backed up
 * as `drive.img` from their own folder, so every snapshot holds the same relative path.
 */
export interface Contender {
  id: string;
  label: string;
  /** Creates the empty repository (not timed). */
  init(repo: string): Step[];
  backup(repo: string, image: string, version: 'v1' | 'v2'): Step[];
  /** Restores `version` to `<outDir>/drive.img`. */
  restore(repo: string, version: 'v1' | 'v2', outDir: string): Step[];
}

const IMAGE = 'drive.img';

export function cacheEnv(cacheDir: string): NodeJS.ProcessEnv {
  return {
    // restic always encrypts; the password only has to be the same for every command.
    RESTIC_PASSWORD: 'pidrive-bench',
    RESTIC_CACHE_DIR: path.join(cacheDir, 'restic'),
    BORG_BASE_DIR: path.join(cacheDir, 'borg'),
    BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes',
    BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
    BORG_PASSPHRASE: '',
  };
}

const cp: Contender = {
  id: 'cp',
  label: 'cp --sparse=always',
  init: (repo) => [{ cmd: 'mkdir', args: ['-p', repo] }],
  backup: (repo, image, v) => [{ cmd: 'cp', args: ['--sparse=always', image, path.join(repo, `${v}.img`)] }],
  restore: (repo, v, out) => [{ cmd: 'cp', args: ['--sparse=always', path.join(repo, `${v}.img`), path.join(out, IMAGE)] }],
};

const restic: Contender = {
  id: 'restic',
  label: 'restic 0.14 (zstd auto)',
  init: (repo) => [{ cmd: 'restic', args: ['-r', repo, 'init', '--repository-version', '2', '-q'] }],
  backup: (repo, image, v) => [
    { cmd: 'restic', args: ['-r', repo, 'backup', '-q', '--compression', 'auto', '--host', 'bench', '--tag', v, IMAGE], cwd: path.dirname(image) },
  ],
  // restic 0.14 has no `restore --sparse`: dump to cp, which punches the holes.
  restore: (repo, v, out) => [
    { cmd: 'restic', args: ['-r', repo, 'dump', '--tag', v, 'latest', `/${IMAGE}`] },
    { cmd: 'cp', args: ['--sparse=always', '/dev/stdin', path.join(out, IMAGE)] },
  ],
};

function borg(id: string, label: string, chunker: string[]): Contender {
  return {
    id,
    label,
    init: (repo) => [{ cmd: 'borg', args: ['init', '-e', 'none', repo] }],
    backup: (repo, image, v) => [{ cmd: 'borg', args: ['create', ...chunker, '-C', 'lz4', `${repo}::${v}`, IMAGE], cwd: path.dirname(image) }],
    restore: (repo, v, out) => [{ cmd: 'borg', args: ['extract', '--sparse', `${repo}::${v}`, IMAGE], cwd: out }],
  };
}

const borgFixed = borg('borg-fixed', 'borg 1.2 fixed 1 MiB (lz4)', ['--chunker-params', 'fixed,1048576', '--sparse']);
const borgCdc = borg('borg-cdc', 'borg 1.2 buzhash (lz4)', []);

/** PiDrive runs as a child process like the others, so its wall time and peak RSS compare. */
function pidrive(engineRoot: string): Contender {
  const child = path.join(engineRoot, 'bench', 'backup', 'pidrive-child.ts');
  return {
    id: 'pidrive',
    label: 'PiDrive',
    init: (repo) => [{ cmd: process.execPath, args: [child, 'init', repo] }],
    backup: (repo, image, v) => [{ cmd: process.execPath, args: [child, 'backup', repo, image, v] }],
    restore: (repo, v, out) => [{ cmd: process.execPath, args: [child, 'restore', repo, v, path.join(out, IMAGE)] }],
  };
}

/** Every contender, PiDrive (from `engineRoot`) first: the others' ratios are to it. */
export function contenders(engineRoot: string): Contender[] {
  return [pidrive(engineRoot), restic, borgFixed, borgCdc, cp];
}

export const CONTENDER_IDS = contenders('').map((c) => c.id);
