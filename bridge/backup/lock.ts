import crypto from 'node:crypto';
import os from 'node:os';
import { z } from 'zod';
import { PiDriveError } from '../core/errors.ts';
import { PREFIX_LOCKS } from './format.ts';
import type { ObjectStore } from './object-store.ts';

/**
 * Repository locks as objects under `locks/` (restic's model, no conditional writes needed):
 * write your lock, then look at the others; on a conflict withdraw and retry after a random pause.
 * Backups, restores and verifies take shared locks; garbage collection takes the exclusive one.
 * A lock is stale when its process is gone (same host) or it was not refreshed for STALE_MS.
 */
export const REFRESH_MS = 60_000;
export const STALE_MS = 10 * 60_000;

const LockFile = z.object({
  id: z.string(),
  exclusive: z.boolean(),
  operation: z.string(),
  host: z.string(),
  pid: z.number().int(),
  created: z.string(),
  refreshed: z.string(),
});
type LockFile = z.infer<typeof LockFile>;

export interface LockOptions {
  exclusive: boolean;
  /** Shown to whoever waits, e.g. "backup of cam". */
  operation: string;
  /** How long to wait for a conflicting lock to go away; 0 fails at once. */
  waitMs: number;
  signal?: AbortSignal;
  /** Called while waiting, with who holds the repository. */
  onWait?: (holder: string) => void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function describe(l: LockFile): string {
  return `${l.operation} (${l.exclusive ? 'exclusive' : 'shared'}) on ${l.host}, process ${l.pid}, since ${l.created}`;
}

export class RepoLock {
  readonly #store: ObjectStore;
  readonly #file: LockFile;
  readonly #lost = new AbortController();
  #timer: NodeJS.Timeout | null = null;

  private constructor(store: ObjectStore, file: LockFile) {
    this.#store = store;
    this.#file = file;
  }

  /** Aborted when the lock disappeared (someone judged it stale): the holder must stop writing. */
  get lost(): AbortSignal {
    return this.#lost.signal;
  }

  static async acquire(store: ObjectStore, options: LockOptions): Promise<RepoLock> {
    const deadline = Date.now() + options.waitMs;
    const id = crypto.randomBytes(8).toString('hex');
    for (;;) {
      options.signal?.throwIfAborted();
      const holder = (await liveLocks(store)).find((l) => l.exclusive || options.exclusive);
      if (!holder) {
        const now = new Date().toISOString();
        const file: LockFile = { id, exclusive: options.exclusive, operation: options.operation, host: os.hostname(), pid: process.pid, created: now, refreshed: now };
        await store.put(lockKey(id), Buffer.from(JSON.stringify(file)));
        const conflict = (await liveLocks(store)).find((l) => l.id !== id && (l.exclusive || options.exclusive));
        if (!conflict) {
          const lock = new RepoLock(store, file);
          lock.#schedule();
          return lock;
        }
        await store.delete([lockKey(id)]);
        if (Date.now() >= deadline) throw locked(store, conflict);
        options.onWait?.(describe(conflict));
      } else {
        if (Date.now() >= deadline) throw locked(store, holder);
        options.onWait?.(describe(holder));
      }
      await sleep(250 + Math.random() * 1000, options.signal);
    }
  }

  #schedule(): void {
    this.#timer = setTimeout(() => void this.#refresh(), REFRESH_MS);
    this.#timer.unref();
  }

  async #refresh(): Promise<void> {
    try {
      if (!(await this.#store.head(lockKey(this.#file.id)))) {
        this.#lost.abort(new PiDriveError('conflict', 'the repository lock was removed by another process that judged it stale; the operation stopped'));
        return;
      }
      this.#file.refreshed = new Date().toISOString();
      await this.#store.put(lockKey(this.#file.id), Buffer.from(JSON.stringify(this.#file)));
    } catch {
      // A failed refresh is retried at the next tick; STALE_MS leaves room for several.
    }
    if (!this.#lost.signal.aborted) this.#schedule();
  }

  async release(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#store.delete([lockKey(this.#file.id)]);
  }
}

function lockKey(id: string): string {
  return `${PREFIX_LOCKS}${id}.json`;
}

/** Current locks, deleting stale ones on the way. */
async function liveLocks(store: ObjectStore): Promise<LockFile[]> {
  const out: LockFile[] = [];
  const host = os.hostname();
  for await (const info of store.list(PREFIX_LOCKS)) {
    let file: LockFile;
    try {
      file = LockFile.parse(JSON.parse((await store.get(info.key)).toString('utf8')));
    } catch {
      // Unreadable or vanished: an abandoned lock is judged by its age.
      if (Date.now() - info.mtime.getTime() > STALE_MS) await store.delete([info.key]);
      continue;
    }
    const age = Date.now() - Date.parse(file.refreshed);
    const dead = file.host === host && file.pid !== process.pid && !alive(file.pid);
    if (dead || age > STALE_MS) {
      await store.delete([info.key]);
      continue;
    }
    out.push(file);
  }
  return out;
}

function locked(store: ObjectStore, holder: LockFile): PiDriveError {
  return new PiDriveError('conflict', `the repository ${store.location} is locked by ${describe(holder)}; try again when it has finished`, {
    repository: 'locked',
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
