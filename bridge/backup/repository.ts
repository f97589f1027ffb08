import crypto from 'node:crypto';
import { PiDriveError } from '../core/errors.ts';
import {
  BlockIndex,
  checkVersion,
  FORMAT_VERSION,
  indexKey,
  KEY_CONFIG,
  Manifest,
  manifestKey,
  parseSnapshotKey,
  PREFIX_SNAPSHOTS,
  RepoConfig,
  sha256Hex,
} from './format.ts';
import { RepoLock, type LockOptions } from './lock.ts';
import { ObjectNotFound, type ObjectStore } from './object-store.ts';
import { SnapshotId } from './types.ts';

export interface DamagedSnapshot {
  drive: string;
  snapshot: string;
  problem: string;
}

/**
 * One opened repository: its config, snapshot manifests (immutable, so cached) and block indexes.
 * Writes go through writeSnapshot, which puts the index, flushes, and only then puts the manifest:
 * a snapshot exists exactly when its manifest does.
 */
export class Repository {
  readonly store: ObjectStore;
  readonly config: RepoConfig;
  readonly #manifests = new Map<string, Manifest>();

  private constructor(store: ObjectStore, config: RepoConfig) {
    this.store = store;
    this.config = config;
  }

  get blockSize(): number {
    return this.config.block_size;
  }

  /** Opens the repository at `store`; with `create`, makes it when there is none yet. */
  static async open(store: ObjectStore, options: { create?: { blockSize: number } } = {}): Promise<Repository> {
    let raw: Buffer | null = null;
    try {
      raw = await store.get(KEY_CONFIG);
    } catch (err) {
      if (!(err instanceof ObjectNotFound)) throw unreachable(store, err);
    }
    if (raw === null) {
      if (!options.create) throw new PiDriveError('not_found', `${store.location} holds no PiDrive repository`, { url: 'no repository there' });
      const config: RepoConfig = {
        format: 'pidrive-repository',
        version: FORMAT_VERSION,
        id: crypto.randomUUID(),
        block_size: options.create.blockSize,
        hash: 'sha256',
        created_at: new Date().toISOString(),
      };
      await store.put(KEY_CONFIG, Buffer.from(JSON.stringify(config, null, 2) + '\n'));
      await store.flush();
      return new Repository(store, config);
    }
    let parsed: RepoConfig;
    try {
      const json = JSON.parse(raw.toString('utf8')) as { version?: unknown };
      if (typeof json.version === 'number') checkVersion('repository', json.version);
      parsed = RepoConfig.parse(json);
    } catch (err) {
      if (err instanceof PiDriveError) throw err;
      throw new PiDriveError('unsupported', `${store.location} has a config object that is not a PiDrive repository configuration`, { url: 'not a PiDrive repository' });
    }
    return new Repository(store, parsed);
  }

  lock(options: LockOptions): Promise<RepoLock> {
    return RepoLock.acquire(this.store, options);
  }

  /** Manifests of one drive (or all), newest first; unreadable ones are reported, not thrown. */
  async snapshots(drive?: string): Promise<{ manifests: Manifest[]; damaged: DamagedSnapshot[] }> {
    const manifests: Manifest[] = [];
    const damaged: DamagedSnapshot[] = [];
    for await (const info of this.store.list(drive ? `${PREFIX_SNAPSHOTS}${drive}/` : PREFIX_SNAPSHOTS)) {
      const parsed = parseSnapshotKey(info.key);
      if (!parsed || parsed.kind !== 'manifest') continue;
      try {
        manifests.push(await this.manifest(parsed.drive, parsed.snapshot));
      } catch (err) {
        if (err instanceof ObjectNotFound) continue; // forgotten meanwhile
        damaged.push({ drive: parsed.drive, snapshot: parsed.snapshot, problem: `manifest unreadable: ${(err as Error).message}` });
      }
    }
    manifests.sort((a, b) => (a.time === b.time ? b.id.localeCompare(a.id) : b.time.localeCompare(a.time)));
    return { manifests, damaged };
  }

  async manifest(drive: string, snapshot: string): Promise<Manifest> {
    const key = manifestKey(drive, snapshot);
    const cached = this.#manifests.get(key);
    if (cached) return cached;
    const json = JSON.parse((await this.store.get(key)).toString('utf8')) as { version?: unknown };
    if (typeof json.version === 'number') checkVersion('snapshot', json.version);
    const manifest = Manifest.parse(json);
    if (manifest.drive !== drive || manifest.id !== snapshot) throw new Error('manifest does not match its key');
    this.#manifests.set(key, manifest);
    return manifest;
  }

  /** "latest" or an id; a clear not_found otherwise. */
  async resolve(drive: string, snapshot: string): Promise<Manifest> {
    if (snapshot === 'latest') {
      const latest = (await this.snapshots(drive)).manifests[0];
      if (!latest) throw new PiDriveError('not_found', `drive "${drive}" has no snapshots in ${this.store.location}`, { snapshot: 'no snapshots' });
      return latest;
    }
    if (!SnapshotId.safeParse(snapshot).success) {
      throw new PiDriveError('bad_request', `"${snapshot}" is not a snapshot id (like 20250101T120000Z-a1b2c3) or "latest"`, { snapshot: 'not a snapshot id' });
    }
    try {
      return await this.manifest(drive, snapshot);
    } catch (err) {
      if (err instanceof ObjectNotFound) throw new PiDriveError('not_found', `no snapshot "${snapshot}" of drive "${drive}"`, { snapshot: 'unknown snapshot' });
      if (err instanceof PiDriveError) throw err;
      throw new PiDriveError('internal', `the manifest of snapshot "${snapshot}" is damaged: ${(err as Error).message}`, { snapshot: 'damaged' });
    }
  }

  async index(manifest: Manifest): Promise<BlockIndex> {
    const stored = await this.store.get(indexKey(manifest.drive, manifest.id));
    if (sha256Hex(stored) !== manifest.index.sha256) throw new Error('block index does not match the checksum in its manifest');
    const index = BlockIndex.decode(stored, manifest.index.entries);
    if (index.blockSize !== manifest.block_size) throw new Error('block index and manifest disagree on the block size');
    return index;
  }

  /** Index first, flush, then the manifest: the manifest is the commit. */
  async writeSnapshot(manifest: Omit<Manifest, 'index'>, index: BlockIndex): Promise<Manifest> {
    const stored = index.encode();
    const full: Manifest = { ...manifest, index: { sha256: sha256Hex(stored), entries: index.count, bytes: stored.length } };
    await this.store.put(indexKey(manifest.drive, manifest.id), stored);
    await this.store.flush();
    await this.store.put(manifestKey(manifest.drive, manifest.id), Buffer.from(JSON.stringify(full, null, 1) + '\n'));
    await this.store.flush();
    this.#manifests.set(manifestKey(manifest.drive, manifest.id), full);
    return full;
  }

  /** The manifest goes first, so an interrupted forget never leaves a snapshot without its index. */
  async forget(drive: string, snapshot: string): Promise<void> {
    await this.store.delete([manifestKey(drive, snapshot)]);
    this.#manifests.delete(manifestKey(drive, snapshot));
    await this.store.delete([indexKey(drive, snapshot)]);
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}

function unreachable(store: ObjectStore, err: unknown): PiDriveError {
  const e = err as NodeJS.ErrnoException & { name?: string };
  return new PiDriveError('unavailable', `cannot reach the repository ${store.location}: ${e.code ?? e.name ?? 'error'} ${e.message ?? ''}`.trim(), {
    url: 'unreachable',
  });
}
