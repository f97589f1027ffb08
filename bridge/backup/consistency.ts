import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Clock } from '../core/clock.ts';
import { PiDriveError } from '../core/errors.ts';
import type { DriveRecord, HostState } from '../drives/model.ts';
import { TEMP_PREFIX } from '../drives/schema.ts';
import type { AttachmentControl } from '../gadget/types.ts';
import type { BackupDrives } from './types.ts';

export interface ConsistentImage {
  path: string;
  source: 'detached' | 'reflink';
  /** When the image was frozen. */
  time: Date;
  /** Throws when the image may have changed while it was read (call right before committing). */
  check(): void;
  release(): Promise<void>;
}

export interface ConsistencyDeps {
  drives: BackupDrives;
  attachments: AttachmentControl | null;
  clock: Clock;
  /** Seconds without host writes that count as idle (config.gadget.host_idle_s). */
  idleSeconds: number;
  /** How long to wait for an idle host before giving up (config.backup.idle_wait_s). */
  idleWaitSeconds: number;
}

const CLONE_UNSUPPORTED = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL', 'ENOSYS', 'ENOTTY']);
const POLL_MS = 1000;

/**
 * The consistency rule: read a drive only while the host cannot write it. A detached drive is read
 * in place (through an instant reflink clone when the pool can make one, so attaching it meanwhile
 * does no harm); an attached drive only through a reflink clone taken while the host is idle.
 * Otherwise the backup is refused with the reason and what to do.
 */
export async function consistentImage(deps: ConsistencyDeps, drive: DriveRecord, signal: AbortSignal, onWait: (phase: string) => void): Promise<ConsistentImage> {
  const image = deps.drives.imagePath(drive);
  if (!drive.attached) {
    const time = deps.clock.now();
    const clone = await tryClone(image, drive.id);
    if (clone.ok) return frozen(clone.path, 'detached', time);
    const still = (): void => {
      if (deps.drives.get(drive.id).attached) {
        throw new PiDriveError('conflict', `drive "${drive.id}" was attached while it was being read, so the snapshot was discarded; run the backup again`, { id: 'attached during backup' });
      }
    };
    return { path: image, source: 'detached', time, check: still, release: async () => {} };
  }

  if (!deps.attachments) {
    throw new PiDriveError('conflict', `drive "${drive.id}" is attached and the bridge is not running to watch the host; start the bridge (pidrive start) or detach the drive`, { id: 'attached' });
  }
  const attachments = deps.attachments;
  const deadline = deps.clock.monotonicMs() + deps.idleWaitSeconds * 1000;
  let clonesUnsupported: string | null = null;
  for (;;) {
    signal.throwIfAborted();
    const host = attachments.hostState();
    if (isIdle(host, deps.idleSeconds)) {
      const time = deps.clock.now();
      const clone = await tryClone(image, drive.id);
      if (!clone.ok) {
        clonesUnsupported = clone.code;
        break;
      }
      // A write that slipped in while cloning makes the clone suspect: drop it and wait again.
      if (isIdle(attachments.hostState(), deps.idleSeconds)) return frozen(clone.path, 'reflink', time);
      fs.rmSync(clone.path, { force: true });
    }
    if (deps.clock.monotonicMs() >= deadline) break;
    onWait('waiting for the host to be idle');
    await sleep(deps.clock, POLL_MS, signal);
  }
  if (clonesUnsupported) {
    throw new PiDriveError(
      'unsupported',
      `drive "${drive.id}" is attached and pool "${drive.pool}" cannot make instant reflink copies (${clonesUnsupported}); detach the drive (pidrive drive detach ${drive.id}) and back it up, or keep the pool on XFS (mkfs.xfs -m reflink=1) or btrfs`,
      { id: 'attached; no reflink' },
    );
  }
  const host = attachments.hostState();
  throw new PiDriveError(
    'conflict',
    `the host kept writing to drive "${drive.id}" (idle ${Math.floor(host.host_idle_s ?? 0)} s, ${deps.idleSeconds} s needed) for ${deps.idleWaitSeconds} s; back it up when the host is idle, or detach the drive first`,
    { id: 'host writing' },
  );
}

/** Idle: nobody connected, or connected and silent for `idleSeconds`. */
export function isIdle(host: HostState, idleSeconds: number): boolean {
  if (!host.host_connected) return true;
  return !host.host_writing && (host.host_idle_s ?? 0) >= idleSeconds;
}

async function tryClone(image: string, driveId: string): Promise<{ ok: true; path: string } | { ok: false; code: string }> {
  const clone = path.join(path.dirname(image), `${TEMP_PREFIX}backup-${driveId}.${crypto.randomBytes(4).toString('hex')}.img`);
  try {
    await fs.promises.copyFile(image, clone, fs.constants.COPYFILE_FICLONE_FORCE);
    return { ok: true, path: clone };
  } catch (err) {
    await fs.promises.rm(clone, { force: true });
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    if (CLONE_UNSUPPORTED.has(code)) return { ok: false, code };
    throw err;
  }
}

function frozen(clonePath: string, source: ConsistentImage['source'], time: Date): ConsistentImage {
  return { path: clonePath, source, time, check: () => {}, release: () => fs.promises.rm(clonePath, { force: true }) };
}

function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      timer.cancel();
      reject(signal.reason as Error);
    };
    const timer = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
