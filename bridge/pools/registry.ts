import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { fromZodIssues, PiDriveError } from '../core/errors.ts';
import { PoolName } from '../drives/model.ts';
import { isInside } from '../drives/paths.ts';
import type { Store } from '../store/database.ts';

/**
 * A marker file proves the directory is the pool and not an empty mount point left behind when
 * the NAS or USB disk is not mounted: without it the pool is unavailable, never silently
 * recreated on the root filesystem.
 */
export const POOL_MARKER = '.pidrive-pool';

export const Pool = z.object({
  name: PoolName,
  path: z.string(),
  origin: z.enum(['builtin', 'config', 'cli']),
  available: z.boolean(),
  reason: z.string().nullable(),
  free_bytes: z.number().int().nonnegative().nullable(),
  total_bytes: z.number().int().nonnegative().nullable(),
});
export type Pool = z.infer<typeof Pool>;

export const AddPoolInput = z.object({ name: PoolName, path: z.string().min(1, 'must not be empty') }).strict();
export type AddPoolInput = z.infer<typeof AddPoolInput>;

const MIGRATIONS = [
  `CREATE TABLE pools (name TEXT PRIMARY KEY, path TEXT NOT NULL, created_at TEXT NOT NULL);
   CREATE TABLE configured_pools_seen (name TEXT PRIMARY KEY, path TEXT NOT NULL)`,
];

export class PoolRegistry {
  readonly #store: Store;
  readonly #configured: Record<string, { path: string }>;
  readonly #dataDir: string;
  readonly #localPath: string;

  constructor(store: Store, dataDir: string, configured: Record<string, { path: string }>) {
    this.#store = store;
    this.#configured = configured;
    this.#localPath = path.join(dataDir, 'images');
    store.migrate('pools', MIGRATIONS);
    // The built-in pool lives in the data directory itself, so creating it can never hide a missing mount.
    fs.mkdirSync(this.#localPath, { recursive: true, mode: 0o700 });
    writeMarker(this.#localPath);
    this.#dataDir = fs.realpathSync(dataDir);
  }

  list(): Pool[] {
    const rows = this.#store.db.prepare('SELECT name, path FROM pools ORDER BY name').all() as Array<{ name: string; path: string }>;
    const pools = new Map<string, Pool>();
    pools.set('local', this.#describe('local', this.#localPath, 'builtin'));
    const add = (name: string, dir: string, origin: Pool['origin']): void => {
      if (pools.has(name)) return;
      // Checked before #describe, which may write a marker into the directory.
      const clash = this.#overlap(dir, [...pools.values()]);
      pools.set(name, clash ? unavailablePool(name, dir, origin, `${dir} ${clash}`) : this.#describe(name, dir, origin));
    };
    for (const [name, p] of Object.entries(this.#configured)) add(name, p.path, 'config');
    for (const r of rows) add(r.name, r.path, 'cli');
    return [...pools.values()];
  }

  get(name: string): Pool {
    const pool = this.list().find((p) => p.name === name);
    if (!pool) throw new PiDriveError('not_found', `no pool named "${name}"`, { pool: 'unknown pool' });
    return pool;
  }

  /**
   * The pool a drive record names. A pool that was removed from the configuration is reported as
   * unavailable (at the path it last had) rather than unknown, so its drives can still be listed,
   * shown and unregistered.
   */
  ofDrive(name: string): Pool {
    const pool = this.list().find((p) => p.name === name);
    if (pool) return pool;
    const seen = this.#store.db.prepare('SELECT path FROM configured_pools_seen WHERE name = ?').get(name) as { path: string } | undefined;
    return unavailablePool(name, seen?.path ?? '', 'config', 'pool no longer configured');
  }

  /** A pool that can take writes now, or a clear refusal naming why. */
  requireAvailable(name: string): Pool {
    return requireAvailable(this.get(name));
  }

  /** True for the bridge's own files: inside the data directory but outside the local pool. */
  isPrivate(file: string): boolean {
    return isInside(this.#dataDir, file) && !isInside(fs.realpathSync(this.#localPath), file);
  }

  requireSpace(pool: Pool, bytes: number, what: string): void {
    if (pool.free_bytes !== null && pool.free_bytes < bytes) {
      throw new PiDriveError(
        'insufficient_space',
        `pool "${pool.name}" has ${formatBytes(pool.free_bytes)} free, ${what} needs ${formatBytes(bytes)}`,
        { size: 'larger than the free space of the pool' },
      );
    }
  }

  /** Validated here, so every caller (API, CLI offline, tests) gets the same refusals. */
  add(input: AddPoolInput): Pool {
    const parsed = AddPoolInput.safeParse(input);
    if (!parsed.success) throw fromZodIssues('bad_request', parsed.error.issues);
    const { name } = parsed.data;
    const existing = this.list();
    if (existing.some((p) => p.name === name)) throw new PiDriveError('conflict', `pool "${name}" already exists`, { name: 'already exists' });
    const dir = path.resolve(parsed.data.path);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(dir);
    } catch {
      throw new PiDriveError('bad_request', `${dir} does not exist; create or mount it first`, { path: 'does not exist' });
    }
    if (!stat.isDirectory()) throw new PiDriveError('bad_request', `${dir} is not a directory`, { path: 'not a directory' });
    const clash = this.#overlap(dir, existing);
    if (clash) throw new PiDriveError('bad_request', `${dir} ${clash}; a pool must be a directory of its own`, { path: clash });
    try {
      writeMarker(dir);
    } catch (err) {
      throw new PiDriveError('bad_request', `${dir} is not writable: ${(err as NodeJS.ErrnoException).code}`, { path: 'not writable' });
    }
    this.#store.db.prepare('INSERT INTO pools (name, path, created_at) VALUES (?, ?, ?)').run(name, dir, new Date().toISOString());
    return this.get(name);
  }

  /**
   * Why `dir` cannot be a pool beside `others`, or null. A pool holding the data directory would
   * let its database and secrets be imported and served to the USB host; two overlapping pools
   * would let one image be registered twice.
   */
  #overlap(dir: string, others: Pool[]): string | null {
    const real = realOrResolved(dir);
    if (real === this.#dataDir) return 'is the data directory';
    if (isInside(real, this.#dataDir)) return 'contains the data directory';
    if (isInside(this.#dataDir, real)) return 'lies inside the data directory';
    for (const p of others) {
      const other = realOrResolved(p.path);
      if (isInside(other, real) || isInside(real, other)) return `overlaps pool "${p.name}"`;
    }
    return null;
  }

  #describe(name: string, dir: string, origin: Pool['origin']): Pool {
    const base = { name, path: dir, origin };
    const unavailable = (reason: string): Pool => unavailablePool(name, dir, origin, reason);
    try {
      if (!fs.statSync(dir).isDirectory()) return unavailable(`${dir} is not a directory`);
    } catch {
      return unavailable(`${dir} is missing (is the disk or NAS mounted?)`);
    }
    if (!fs.existsSync(path.join(dir, POOL_MARKER))) {
      // A configured pool seen for the first time gets its marker; afterwards a missing marker means a missing mount.
      if (origin !== 'config' || this.#seen(name)) return unavailable(`${dir} has no ${POOL_MARKER} marker (is the disk or NAS mounted?)`);
      try {
        writeMarker(dir);
      } catch {
        return unavailable(`${dir} is not writable`);
      }
    }
    if (origin === 'config' && !this.#seen(name)) this.#remember(name, dir);
    const s = fs.statfsSync(dir);
    return { ...base, available: true, reason: null, free_bytes: s.bavail * s.bsize, total_bytes: s.blocks * s.bsize };
  }

  #seen(name: string): boolean {
    return this.#store.db.prepare('SELECT 1 FROM configured_pools_seen WHERE name = ?').get(name) !== undefined;
  }

  #remember(name: string, dir: string): void {
    this.#store.db.prepare('INSERT OR IGNORE INTO configured_pools_seen (name, path) VALUES (?, ?)').run(name, dir);
  }
}

export function requireAvailable(pool: Pool): Pool {
  if (!pool.available) throw new PiDriveError('unavailable', unavailableMessage(pool), { pool: pool.reason ?? 'unavailable' });
  return pool;
}

/** How an unavailable pool is named everywhere (refusals, drive views). */
export function unavailableMessage(pool: Pool): string {
  return `pool "${pool.name}" is unavailable: ${pool.reason ?? 'unknown reason'}`;
}

function unavailablePool(name: string, dir: string, origin: Pool['origin'], reason: string): Pool {
  return { name, path: dir, origin, available: false, reason, free_bytes: null, total_bytes: null };
}

function realOrResolved(dir: string): string {
  try {
    return fs.realpathSync(dir);
  } catch {
    return path.resolve(dir);
  }
}

function writeMarker(dir: string): void {
  const marker = path.join(dir, POOL_MARKER);
  if (!fs.existsSync(marker)) fs.writeFileSync(marker, 'PiDrive pool: do not delete; its absence marks the pool as not mounted\n');
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}
