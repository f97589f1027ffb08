import type { Extension } from '../context.ts';
import { BackupService } from './service.ts';
import type { BackupControl, BackupDeps } from './types.ts';

export type { BackupControl } from './types.ts';
/** Plain functions for use without the daemon (benchmarks, scripts). */
export { backupImage } from './backup-image.ts';
export { restoreSnapshot } from './restore.ts';
export { verifyRepository } from './verify.ts';
export { pruneRepository } from './prune.ts';
export { openRepository, parseRepoUrl } from './repo-url.ts';

/**
 * The backup module for the controller: `backup` is what the API, MQTT and CLI call; `extension`
 * starts the job runner (queued jobs resume, an interrupted one is marked failed) and the scheduler.
 * The drive view's backup fields come from `backup.driveBackupInfo` (DriveService.setViewSources).
 */
export function createBackup(deps: BackupDeps): { backup: BackupControl; service: BackupService; extension: Extension } {
  const service = new BackupService(deps);
  const extension: Extension = {
    name: 'backup',
    start: async () => service.start(),
    stop: () => service.stop(),
  };
  return { backup: service, service, extension };
}
