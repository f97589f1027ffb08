import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import koffi from 'koffi';
import { checkKey, ObjectNotFound, type ObjectInfo, type ObjectStore } from './object-store.ts';

/** Partly written objects carry this prefix until renamed into place. */
const TEMP_PREFIX = '.tmp-';

type SyncFs = ((fd: number) => number) & { async(fd: number, cb: (err: unknown, res: number) => void): void };
let syncfsFn: SyncFs | null = null;

/** syncfs(2) flushes the whole filesystem holding the repository in one call (Node has no binding). */
function syncfs(fd: number): Promise<void> {
  syncfsFn ??= koffi.load('libc.so.6').func('int syncfs(int fd)') as SyncFs;
  return new Promise((resolve, reject) =>
    syncfsFn!.async(fd, (err, res) => (err ? reject(err as Error) : res === 0 ? resolve() : reject(new Error(`syncfs failed with errno ${koffi.errno()}`)))),
  );
}

/**
 * A repository in a directory. Every object is written under a temporary name and renamed, so a
 * kill -9 leaves either the whole object or a `.tmp-` file (removed by prune). Instead of an
 * fsync per chunk, flush() calls syncfs once before the manifest that refers to the chunks.
 */
export class FolderStore implements ObjectStore {
  readonly kind = 'folder' as const;
  readonly location: string;
  readonly #root: string;
  readonly #dirs = new Set<string>();

  constructor(root: string) {
    this.#root = path.resolve(root);
    this.location = this.#root;
  }

  #path(key: string): string {
    checkKey(key);
    return path.join(this.#root, ...key.split('/'));
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    const file = this.#path(key);
    const dir = path.dirname(file);
    if (!this.#dirs.has(dir)) {
      await fsp.mkdir(dir, { recursive: true });
      this.#dirs.add(dir);
    }
    const tmp = path.join(dir, `${TEMP_PREFIX}${crypto.randomBytes(6).toString('hex')}-${path.basename(file)}`);
    try {
      await fsp.writeFile(tmp, data, { mode: 0o600 });
      await fsp.rename(tmp, file);
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
  }

  async get(key: string, into?: Buffer): Promise<Buffer> {
    try {
      if (!into) return await fsp.readFile(this.#path(key));
      const fh = await fsp.open(this.#path(key), 'r');
      try {
        const { size } = await fh.stat();
        if (size > into.length) return await fh.readFile();
        let n = 0;
        while (n < size) {
          const { bytesRead } = await fh.read(into, n, size - n, n);
          if (bytesRead === 0) break;
          n += bytesRead;
        }
        return into.subarray(0, n);
      } finally {
        await fh.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ObjectNotFound(key);
      throw err;
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const st = await fsp.stat(this.#path(key));
      return { key, size: st.size, mtime: st.mtime };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    // The prefix's directory part is walked; the rest filters names.
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash >= 0 ? prefix.slice(0, slash) : '';
    const start = dirKey ? this.#path(dirKey) : this.#root;
    yield* this.#walk(start, dirKey, prefix);
  }

  async *#walk(dir: string, dirKey: string, prefix: string): AsyncIterable<ObjectInfo> {
    let entries: fs.Dirent[];
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) {
      if (e.name.startsWith(TEMP_PREFIX)) continue;
      const key = dirKey ? `${dirKey}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (prefix.startsWith(key + '/') || key.startsWith(prefix)) yield* this.#walk(path.join(dir, e.name), key, prefix);
      } else if (e.isFile() && key.startsWith(prefix)) {
        try {
          const st = await fsp.stat(path.join(dir, e.name));
          yield { key, size: st.size, mtime: st.mtime };
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) await fsp.rm(this.#path(key), { force: true });
  }

  async flush(): Promise<void> {
    const fd = fs.openSync(this.#root, 'r');
    try {
      await syncfs(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  async removeLeftovers(before: Date): Promise<number> {
    let removed = 0;
    const visit = async (dir: string): Promise<void> => {
      let entries: fs.Dirent[];
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) await visit(full);
        else if (e.name.startsWith(TEMP_PREFIX)) {
          const st = await fsp.stat(full).catch(() => null);
          if (st && st.mtime < before) {
            await fsp.rm(full, { force: true });
            removed++;
          }
        }
      }
    };
    await visit(this.#root);
    return removed;
  }

  async close(): Promise<void> {}
}
