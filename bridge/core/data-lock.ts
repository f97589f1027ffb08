import fs from 'node:fs';
import path from 'node:path';
import { PiDriveError } from './errors.ts';

const LOCK_NAME = 'pidrive.lock';

/** PID of the live process holding the data directory, or null (a lock left by a killed process is stale). */
export function lockHolder(dataDir: string): number | null {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(path.join(dataDir, LOCK_NAME), 'utf8').trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : null;
  }
}

/**
 * One writer per data directory: the daemon holds this lock while it runs, an offline CLI command
 * while it works. A lock whose process died (kill -9) is taken over.
 */
export function acquireDataLock(dataDir: string, holder: string): () => void {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, LOCK_NAME);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return () => {
        try {
          if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.rmSync(file);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = lockHolder(dataDir);
      if (pid !== null && pid !== process.pid) {
        throw new PiDriveError('conflict', `${holder}: the data directory ${dataDir} is in use by process ${pid}`);
      }
      fs.rmSync(file, { force: true });
    }
  }
  throw new PiDriveError('conflict', `${holder}: cannot lock ${dataDir}`);
}
