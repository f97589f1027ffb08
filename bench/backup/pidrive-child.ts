/**
 * PiDrive's side of the benchmark, run as its own process (like restic and borg) so wall time,
 * CPU and peak RSS are measured the same way:
 *   pidrive-child.ts init REPO | backup REPO IMAGE VERSION | restore REPO VERSION OUT
 * VERSION is v1, v2, ...: the n-th snapshot of the benchmark drive, oldest first.
 */
import { backupImage } from '../../bridge/backup/backup-image.ts';
import { FolderStore } from '../../bridge/backup/folder-store.ts';
import { Repository } from '../../bridge/backup/repository.ts';
import { restoreSnapshot } from '../../bridge/backup/restore.ts';

const DRIVE = 'bench';
const BLOCK_SIZE = 1024 * 1024;

const [op, repoDir, ...rest] = process.argv.slice(2);
if (!op || !repoDir) throw new Error('usage: pidrive-child.ts init|backup|restore REPO ...');

const repo = await Repository.open(new FolderStore(repoDir), op === 'init' ? { create: { blockSize: BLOCK_SIZE } } : {});
try {
  if (op === 'backup') {
    const [image] = rest;
    if (!image) throw new Error('backup needs IMAGE');
    await backupImage({ repo, imagePath: image, driveId: DRIVE });
  } else if (op === 'restore') {
    const [version, out] = rest;
    const n = Number(version?.slice(1));
    if (!out || !Number.isInteger(n) || n < 1) throw new Error('restore needs VERSION (v1, v2, ...) and OUT');
    const oldestFirst = (await repo.snapshots(DRIVE)).manifests.reverse();
    const manifest = oldestFirst[n - 1];
    if (!manifest) throw new Error(`no snapshot ${version}: the repository holds ${oldestFirst.length}`);
    await restoreSnapshot({ repo, manifest, outputPath: out });
  } else if (op !== 'init') throw new Error(`unknown operation ${op}`);
} finally {
  await repo.close();
}
