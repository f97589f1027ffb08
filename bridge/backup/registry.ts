import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.ts';
import { fromZodIssues, PiDriveError } from '../core/errors.ts';
import type { Store } from '../store/database.ts';
import { parseRepoUrl, openRepository, type Credentials } from './repo-url.ts';
import type { Repository as OpenRepository } from './repository.ts';
import { AddRepositoryInput, RepositoryName, type Repository } from './types.ts';

interface Row {
  name: string;
  url: string;
  access_key_id: string | null;
  secret_access_key: string | null;
  block_size: number | null;
}

interface Entry {
  name: string;
  url: string;
  origin: Repository['origin'];
  credentials: Credentials | undefined;
}

/**
 * Named repositories: those in the configuration file plus those added with `pidrive repo add`
 * (kept in the database, credentials included, never returned). Opened repositories are cached so
 * their immutable manifests are read once.
 */
export class RepositoryRegistry {
  readonly #store: Store;
  readonly #config: Config;
  readonly #open = new Map<string, Promise<OpenRepository>>();

  constructor(store: Store, config: Config) {
    this.#store = store;
    this.#config = config;
  }

  #entries(): Entry[] {
    const out = new Map<string, Entry>();
    for (const [name, r] of Object.entries(this.#config.repositories)) {
      out.set(name, { name, url: r.url, origin: 'config', credentials: creds(r.access_key_id, r.secret_access_key) });
    }
    for (const r of this.#store.db.prepare('SELECT * FROM backup_repositories ORDER BY name').all() as Row[]) {
      if (!out.has(r.name)) out.set(r.name, { name: r.name, url: r.url, origin: 'cli', credentials: creds(r.access_key_id, r.secret_access_key) });
    }
    return [...out.values()];
  }

  names(): string[] {
    return this.#entries().map((e) => e.name);
  }

  has(name: string): boolean {
    return this.#entries().some((e) => e.name === name);
  }

  #entry(name: string): Entry {
    const entry = this.#entries().find((e) => e.name === name);
    if (!entry) {
      const known = this.names();
      throw new PiDriveError('not_found', `no repository named "${name}"${known.length ? ` (known: ${known.join(', ')})` : '; add one with "pidrive repo add NAME URL"'}`, {
        repository: 'unknown repository',
      });
    }
    return entry;
  }

  async list(): Promise<Repository[]> {
    return Promise.all(this.#entries().map((e) => this.#describe(e)));
  }

  async #describe(e: Entry): Promise<Repository> {
    const kind = parseRepoUrl(e.url).kind;
    try {
      const repo = await this.open(e.name);
      return { name: e.name, url: e.url, kind, origin: e.origin, block_size: repo.blockSize, available: true, reason: null };
    } catch (err) {
      return { name: e.name, url: e.url, kind, origin: e.origin, block_size: null, available: false, reason: (err as Error).message };
    }
  }

  /** Creates the repository at the URL when none is there yet; adopts an existing one. */
  async add(input: AddRepositoryInput): Promise<Repository> {
    const parsed = AddRepositoryInput.safeParse(input);
    if (!parsed.success) throw fromZodIssues('bad_request', parsed.error.issues);
    const spec = parsed.data;
    if (this.has(spec.name)) throw new PiDriveError('conflict', `repository "${spec.name}" already exists`, { name: 'already exists' });
    const kind = parseRepoUrl(spec.url).kind;
    if ((spec.access_key_id === undefined) !== (spec.secret_access_key === undefined)) {
      throw new PiDriveError('bad_request', 'give both the access key id and the secret access key, or neither', { secret_access_key: 'needs both' });
    }
    if (kind === 'folder' && spec.access_key_id) throw new PiDriveError('bad_request', 'a folder repository takes no credentials', { access_key_id: 'not for file://' });
    const credentials = creds(spec.access_key_id, spec.secret_access_key);
    const repo = await openRepository(spec.url, { credentials, create: { blockSize: spec.block_size ?? this.#config.backup.block_size } });
    this.#store.db
      .prepare('INSERT INTO backup_repositories (name, url, access_key_id, secret_access_key, block_size, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(spec.name, spec.url, spec.access_key_id ?? null, spec.secret_access_key ?? null, repo.blockSize, new Date().toISOString());
    this.#store.db.prepare('INSERT OR REPLACE INTO backup_repositories_seen (name, url, repository_id) VALUES (?, ?, ?)').run(spec.name, spec.url, repo.config.id);
    this.#open.set(spec.name, Promise.resolve(repo));
    return { name: spec.name, url: spec.url, kind, origin: 'cli', block_size: repo.blockSize, available: true, reason: null };
  }

  /** The opened repository (cached); a failed open is retried next time. */
  open(name: string): Promise<OpenRepository> {
    const cached = this.#open.get(name);
    if (cached) return cached;
    const opening = this.#openEntry(this.#entry(name));
    this.#open.set(name, opening);
    opening.catch(() => this.#open.delete(name));
    return opening;
  }

  /**
   * A configured repository is created on first use. Once seen, it is never created again at that
   * URL: an empty folder there later is an unmounted NAS or USB disk, not a place for a new one.
   */
  async #openEntry(entry: Entry): Promise<OpenRepository> {
    const seen = this.#store.db.prepare('SELECT repository_id FROM backup_repositories_seen WHERE name = ? AND url = ?').get(entry.name, entry.url) as
      | { repository_id: string }
      | undefined;
    const create = entry.origin === 'config' && !seen ? { blockSize: this.#config.backup.block_size } : undefined;
    if (create && parseRepoUrl(entry.url).kind === 'folder') {
      const dir = (parseRepoUrl(entry.url) as { path: string }).path;
      if (!fs.existsSync(path.dirname(dir))) {
        throw new PiDriveError('unavailable', `repository "${entry.name}": ${path.dirname(dir)} does not exist (is the disk or NAS mounted?)`, { repository: 'unavailable' });
      }
    }
    let repo: OpenRepository;
    try {
      repo = await openRepository(entry.url, { credentials: entry.credentials, ...(create ? { create } : {}) });
    } catch (err) {
      if (err instanceof PiDriveError && err.code === 'not_found') {
        throw new PiDriveError('unavailable', `repository "${entry.name}" is gone from ${entry.url} (is the disk or NAS mounted?)`, { repository: 'unavailable' });
      }
      throw err;
    }
    if (!seen) {
      this.#store.db.prepare('INSERT OR REPLACE INTO backup_repositories_seen (name, url, repository_id) VALUES (?, ?, ?)').run(entry.name, entry.url, repo.config.id);
    }
    return repo;
  }

  /**
   * The repository a drive backs up to when none is named: the one of a schedule covering the drive,
   * else the only repository there is.
   */
  defaultFor(driveId: string | null, schedules: ReadonlyArray<{ drives: readonly string[]; repository: string }>): string {
    const scheduled = driveId ? schedules.find((s) => s.drives.includes(driveId)) : undefined;
    if (scheduled) return scheduled.repository;
    const names = this.names();
    if (names.length === 1) return names[0]!;
    if (names.length === 0) throw new PiDriveError('bad_request', 'no backup repository yet; add one with "pidrive repo add NAME URL"', { repository: 'none configured' });
    throw new PiDriveError('bad_request', `several repositories exist (${names.join(', ')}); name one`, { repository: 'required' });
  }

  validateName(name: string): string {
    const parsed = RepositoryName.safeParse(name);
    if (!parsed.success) throw fromZodIssues('bad_request', parsed.error.issues, 'repository');
    this.#entry(name);
    return name;
  }

  async close(): Promise<void> {
    const all = [...this.#open.values()];
    this.#open.clear();
    for (const p of all) await p.then((r) => r.close()).catch(() => {});
  }
}

function creds(id: string | null | undefined, secret: string | null | undefined): Credentials | undefined {
  return id && secret ? { accessKeyId: id, secretAccessKey: secret } : undefined;
}
