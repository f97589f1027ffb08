import fs from 'node:fs/promises';
import path from 'node:path';

/** A missing thread is looked for again at most this often, so an unbound gadget costs nothing. */
const RESCAN_MS = 3000;

/**
 * Bytes the host has written through the gadget: the `wchar` counter of the kernel threads named
 * `file-storage` (one per mass-storage function) in /proc/<pid>/io. `wchar` and not `write_bytes`:
 * write_bytes only counts page-cache dirtying on filesystems with writeback and stays 0 for images
 * on tmpfs (verified in the kernel test's guest); wchar counts every byte handed to the image.
 * Sampling costs two small reads per thread once the threads are known.
 */
export class FileStorageCounter {
  readonly #proc: string;
  #pids: number[] = [];
  #lastScan = -Infinity;

  constructor(procRoot = '/proc') {
    this.#proc = procRoot;
  }

  async read(): Promise<number | null> {
    if (!(await this.#valid())) {
      this.#pids = [];
      if (performance.now() - this.#lastScan >= RESCAN_MS) await this.#scan();
    }
    if (this.#pids.length === 0) return null;
    let total = 0;
    for (const pid of this.#pids) {
      const io = await fs.readFile(path.join(this.#proc, String(pid), 'io'), 'utf8').catch(() => null);
      const m = io ? /^wchar:\s*(\d+)/m.exec(io) : null;
      if (!m) {
        this.#pids = [];
        return null;
      }
      total += Number(m[1]);
    }
    return total;
  }

  async #valid(): Promise<boolean> {
    if (this.#pids.length === 0) return false;
    for (const pid of this.#pids) if ((await comm(this.#proc, pid)) !== 'file-storage') return false;
    return true;
  }

  async #scan(): Promise<void> {
    this.#lastScan = performance.now();
    const pids: number[] = [];
    for (const entry of await fs.readdir(this.#proc).catch(() => [] as string[])) {
      if (!/^\d+$/.test(entry)) continue;
      if ((await comm(this.#proc, Number(entry))) === 'file-storage') pids.push(Number(entry));
    }
    this.#pids = pids;
  }
}

async function comm(proc: string, pid: number): Promise<string | null> {
  return fs.readFile(path.join(proc, String(pid), 'comm'), 'utf8').then((s) => s.trim(), () => null);
}
