import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const REPO = path.resolve(import.meta.dirname, '../..');

export interface Engine {
  /** Root of the source tree whose bench/backup/pidrive-child.ts is run. */
  root: string;
  source: 'head' | 'worktree';
  commit: string;
  /** worktree only: bridge/backup differed from the commit. */
  dirty: boolean;
}

function git(args: string[]): string {
  return execFileSync('git', ['-C', REPO, ...args], { encoding: 'utf8' }).trim();
}

/**
 * The PiDrive code measured. `head` extracts the committed tree into the work dir, so edits made
 * in the shared work tree during a 40-minute run cannot change what is measured halfway through,
 * and the results name exactly what was measured; `worktree` runs the files as they are.
 */
export function prepareEngine(source: 'head' | 'worktree', work: string): Engine {
  let commit = 'unknown';
  try {
    commit = git(['rev-parse', '--short', 'HEAD']);
  } catch {
    if (source === 'head') throw new Error('--engine head needs a git checkout (use --engine worktree)');
  }
  if (source === 'worktree') {
    const dirty = commit !== 'unknown' && git(['status', '--porcelain', '--', 'bridge/backup']) !== '';
    return { root: REPO, source, commit, dirty };
  }
  const root = path.join(work, 'engine');
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  const tar = path.join(work, 'engine.tar');
  git(['archive', '-o', tar, 'HEAD', 'package.json', 'bridge', 'bench/backup', 'test/helpers/prng.ts']);
  execFileSync('tar', ['-xf', tar, '-C', root]);
  fs.rmSync(tar);
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(root, 'node_modules'));
  return { root, source, commit, dirty: false };
}
