import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PiDriveError, fromZodIssues } from '../core/errors.ts';
import type { EventBus } from '../core/event-bus.ts';
import type { Logger } from '../core/logger.ts';
import { allocatedBytes } from '../core/sparse.ts';
import type { Store } from '../store/database.ts';
import type { EventsRepo } from '../store/events-repo.ts';
import { requireAvailable, unavailableMessage, type PoolRegistry } from '../pools/registry.ts';
import { checkFormatSpec, copySparse, detectLayout, formatImage, growMbrPartition } from './image.ts';
import { CreateDriveInput, ImportDriveInput } from './inputs.ts';
import { DriveRecord, type Drive, type DriveBackupInfo, type DriveMode, type HostState } from './model.ts';
import { isInside, pathInPool } from './paths.ts';
import { SizeString } from './size.ts';
import { DRIVE_MIGRATIONS, TEMP_PREFIX, type OpRow } from './schema.ts';

export interface Actor {
  /** "local" for the CLI and control socket, "user:<name>", "token:<name>", "mqtt", "schedule". */
  actor: string;
  source?: string | null;
  /** The user behind the actor: owner of the drives it creates (none for the CLI, MQTT, schedules). */
  userId?: string | null;
}

export type Progress = (done: number, total: number) => void;

/** A new drive's settings; `file` is chosen by the service. */
export type ProvisionSpec = Omit<DriveRecord, 'file' | 'attached' | 'lun' | 'created_at' | 'updated_at'> & { extension?: string };

const NO_BACKUP: DriveBackupInfo = { last_backup: null, last_backup_bytes: null, backup_state: 'idle', backup_progress: null, suspicious_change: false };
const NO_HOST: HostState = { host_connected: false, host_writing: false, host_idle_s: null, write_rate_bps: 0 };

/**
 * Drive images and their registration. Every change that creates or removes an image is journalled
 * in `drive_ops` before it touches the disk, so startup (reconcile) can roll it back or forward
 * after a kill -9: never a half-registered drive, never an orphan image.
 */
export class DriveService {
  readonly #store: Store;
  readonly #pools: PoolRegistry;
  readonly #bus: EventBus;
  readonly #events: EventsRepo;
  readonly #log: Logger;
  #hostState: () => HostState = () => NO_HOST;
  #backupInfo: (id: string) => DriveBackupInfo = () => NO_BACKUP;

  constructor(deps: { store: Store; pools: PoolRegistry; bus: EventBus; events: EventsRepo; log: Logger }) {
    this.#store = deps.store;
    this.#pools = deps.pools;
    this.#bus = deps.bus;
    this.#events = deps.events;
    this.#log = deps.log;
    deps.store.migrate('drives', DRIVE_MIGRATIONS);
  }

  /** The gadget and backup modules fill in their parts of the drive view. */
  setViewSources(sources: { hostState?: () => HostState; backupInfo?: (id: string) => DriveBackupInfo }): void {
    if (sources.hostState) this.#hostState = sources.hostState;
    if (sources.backupInfo) this.#backupInfo = sources.backupInfo;
  }

  list(): DriveRecord[] {
    return (this.#store.db.prepare('SELECT * FROM drives ORDER BY id').all() as RawRow[]).map(fromRow);
  }

  find(id: string): DriveRecord | null {
    const row = this.#store.db.prepare('SELECT * FROM drives WHERE id = ?').get(id) as RawRow | undefined;
    return row ? fromRow(row) : null;
  }

  get(id: string): DriveRecord {
    const drive = this.find(id);
    if (!drive) throw new PiDriveError('not_found', `no drive "${id}"`, { id: 'unknown drive' });
    return drive;
  }

  /** The image's absolute path, checked to lie inside its pool; refused while the pool is unavailable. */
  imagePath(drive: DriveRecord): string {
    const pool = requireAvailable(this.#pools.ofDrive(drive.pool));
    return pathInPool(pool.path, drive.file, 'file');
  }

  view(id: string): Drive {
    return this.#toView(this.get(id));
  }

  views(): Drive[] {
    return this.list().map((d) => this.#toView(d));
  }

  async create(input: CreateDriveInput, who: Actor): Promise<Drive> {
    const parsed = CreateDriveInput.safeParse(input);
    if (!parsed.success) throw fromZodIssues('bad_request', parsed.error.issues);
    const spec = parsed.data;
    const partition = spec.partition ?? (spec.fs === 'none' ? 'none' : 'mbr');
    const format = { filesystem: spec.fs, label: spec.label ?? null, partition } as const;
    checkFormatSpec(format, spec.size);
    const pool = this.#pools.requireAvailable(spec.pool);
    this.#pools.requireSpace(pool, spec.size, `a ${spec.size}-byte drive`);
    const drive = await this.provision(
      { id: spec.id, pool: spec.pool, size_bytes: spec.size, filesystem: spec.fs, label: format.label, partition, mode: spec.mode, source: 'created', owner: who.userId ?? null },
      async (tmp) => {
        fs.truncateSync(tmp, spec.size);
        await formatImage(tmp, spec.size, format);
      },
    );
    this.#audit('drive.create', drive.id, who, { size_bytes: spec.size, filesystem: spec.fs, pool: spec.pool });
    return this.#toView(drive);
  }

  async import(input: ImportDriveInput, who: Actor, onProgress?: Progress): Promise<Drive> {
    const parsed = ImportDriveInput.safeParse(input);
    if (!parsed.success) throw fromZodIssues('bad_request', parsed.error.issues);
    const spec = parsed.data;
    const source = path.resolve(spec.from);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(source);
    } catch {
      throw new PiDriveError('bad_request', `${spec.from} does not exist or cannot be read`, { from: 'not found' });
    }
    if (!stat.isFile()) throw new PiDriveError('bad_request', `${spec.from} is not a regular file`, { from: 'not a file' });
    // No pool can hold the data directory, so only a copy could reach the database and secrets.
    if (spec.mode === 'copy' && this.#pools.isPrivate(fs.realpathSync(source))) {
      throw new PiDriveError('forbidden', `${spec.from} is one of the bridge's own files in its data directory`, { from: 'inside the data directory' });
    }
    if (stat.size === 0 || stat.size % 512 !== 0) {
      throw new PiDriveError('bad_request', `${spec.from} is ${stat.size} bytes; an image must be a non-empty multiple of 512 bytes`, { from: 'bad size' });
    }
    const layout = await detectLayout(source);
    const mode: DriveMode = spec.cdrom ? 'cdrom' : layout.filesystem === 'iso9660' ? 'cdrom' : 'read_write';
    const base = { id: spec.id, size_bytes: stat.size, filesystem: layout.filesystem, label: layout.label, partition: layout.partition, mode, owner: who.userId ?? null };

    let drive: DriveRecord;
    if (spec.mode === 'reference') {
      drive = this.#reference(spec.id, source, base);
    } else {
      const pool = this.#pools.requireAvailable(spec.pool);
      this.#pools.requireSpace(pool, allocatedBytes(source), 'the copy');
      drive = await this.provision({ ...base, pool: spec.pool, source: 'copied', extension: mode === 'cdrom' ? '.iso' : '.img' }, (tmp) =>
        copySparse(source, tmp, onProgress),
      );
    }
    this.#audit('drive.import', drive.id, who, { from: source, mode: spec.mode });
    return this.#toView(drive);
  }

  /** A referenced image stays where it is, which must be inside an available pool. */
  #reference(id: string, source: string, base: Omit<ProvisionSpec, 'pool' | 'source'>): DriveRecord {
    const real = fs.realpathSync(source);
    const pool = this.#pools.list().find((p) => p.available && isInside(fs.realpathSync(p.path), real));
    if (!pool) {
      throw new PiDriveError('bad_request', `${source} is not inside a pool; add its directory with "pidrive pool add" or import with --mode copy`, { from: 'outside every pool' });
    }
    const file = path.relative(fs.realpathSync(pool.path), real);
    if (this.list().some((d) => d.pool === pool.name && d.file === file)) {
      throw new PiDriveError('conflict', `${source} is already a drive`, { from: 'already registered' });
    }
    this.#insert({ ...base, pool: pool.name, file, source: 'referenced' });
    return this.get(id);
  }

  /**
   * Registers a new drive whose image `fill` writes at a temporary name in the pool; renamed and
   * inserted only when complete, rolled back on any failure (also after a crash, by reconcile).
   */
  async provision(spec: ProvisionSpec, fill: (tmpPath: string) => Promise<void>): Promise<DriveRecord> {
    const { extension = '.img', ...record } = spec;
    const pool = this.#pools.requireAvailable(record.pool);
    const file = `${record.id}${extension}`;
    const finalPath = pathInPool(pool.path, file, 'id');
    const tmpName = `${TEMP_PREFIX}${record.id}.${crypto.randomBytes(4).toString('hex')}${extension}`;
    const tmpPath = pathInPool(pool.path, tmpName, 'id');
    this.#beginOp(record.id, 'provision', record.pool, tmpName, file);
    try {
      if (fs.existsSync(finalPath)) throw new PiDriveError('conflict', `${file} already exists in pool "${record.pool}"`, { id: 'image file exists' });
      fs.closeSync(fs.openSync(tmpPath, 'wx', 0o600));
      await fill(tmpPath);
      fs.renameSync(tmpPath, finalPath);
      fsyncDir(pool.path);
      this.#store.db.transaction(() => {
        this.#insert({ ...record, file });
        this.#endOp(record.id);
      })();
    } catch (err) {
      this.#discard(tmpPath);
      if (!this.find(record.id)) this.#discard(finalPath);
      this.#endOp(record.id);
      throw err;
    }
    this.#bus.emit('drive_added', { id: record.id });
    return this.get(record.id);
  }

  /**
   * Runs an attach holding the drive's operation slot (journalled as `attach`): a restore cannot
   * replace the image while the kernel opens it, nor can the drive be resized or removed meanwhile.
   */
  async attaching<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const drive = this.get(id);
    this.#beginOp(id, 'attach', drive.pool, null, drive.file);
    try {
      return await fn();
    } finally {
      this.#endOp(id);
    }
  }

  /**
   * Rewrites the image of a detached drive: `fill` writes a temporary file beside it, which is
   * renamed over the image only when complete, so the old image stays whole until then (also
   * after a crash). Journalled, so attaching, resizing, removing or replacing the drive meanwhile
   * is refused as busy. The drive's size becomes the new image's.
   */
  async replaceImage(id: string, fill: (tmpPath: string) => Promise<void>): Promise<DriveRecord> {
    const drive = this.get(id);
    if (drive.source === 'referenced') throw new PiDriveError('conflict', `drive "${id}" references an image it does not own; import a copy to replace it`, { id: 'referenced' });
    const pool = this.#pools.requireAvailable(drive.pool);
    const finalPath = pathInPool(pool.path, drive.file, 'file');
    const tmpName = `${TEMP_PREFIX}${id}.${crypto.randomBytes(4).toString('hex')}${path.extname(drive.file)}`;
    const tmpPath = pathInPool(pool.path, tmpName, 'id');
    this.#beginOp(id, 'replace', drive.pool, tmpName, drive.file);
    let renamed = false;
    try {
      if (this.get(id).attached) throw new PiDriveError('conflict', `drive "${id}" is attached; detach it first`, { id: 'attached' });
      fs.closeSync(fs.openSync(tmpPath, 'wx', 0o600));
      await fill(tmpPath);
      const fd = fs.openSync(tmpPath, 'r');
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmpPath, finalPath);
      renamed = true;
      fsyncDir(pool.path);
    } catch (err) {
      if (!renamed) this.#discard(tmpPath);
      throw err;
    } finally {
      // Also after a failure past the rename: the size follows the image that is in place.
      this.#store.db.transaction(() => {
        if (renamed) this.#store.db.prepare('UPDATE drives SET size_bytes = ?, updated_at = ? WHERE id = ?').run(fs.statSync(finalPath).size, now(), id);
        this.#endOp(id);
      })();
    }
    this.#bus.emit('drive_state', { id });
    return this.get(id);
  }

  /** Removes a file a failed operation leaves; a failure here is logged, never hides the first error. */
  #discard(file: string): void {
    try {
      fs.rmSync(file, { force: true });
    } catch (err) {
      this.#log.warn('could not remove an unfinished image; the next start removes it', { file, error: (err as Error).message });
    }
  }

  /** Grow only. The partition grows with the image; FAT32/exFAT are not resized (said in `notes`). */
  async resize(id: string, size: string | number, who: Actor): Promise<{ drive: Drive; notes: string[] }> {
    const parsed = SizeString.safeParse(size);
    if (!parsed.success) throw fromZodIssues('bad_request', parsed.error.issues, 'size');
    const bytes = parsed.data;
    const drive = this.get(id);
    if (drive.attached) throw new PiDriveError('conflict', `drive "${id}" is attached; detach it before resizing`, { id: 'attached' });
    if (drive.source === 'referenced') throw new PiDriveError('conflict', `drive "${id}" references an image it does not own; import a copy to resize it`, { id: 'referenced' });
    if (bytes < drive.size_bytes) throw new PiDriveError('bad_request', 'drives only grow: shrinking would cut off data', { size: 'smaller than the drive' });
    if (bytes === drive.size_bytes) return { drive: this.#toView(drive), notes: ['size unchanged'] };
    const file = this.imagePath(drive);
    this.#pools.requireSpace(this.#pools.ofDrive(drive.pool), bytes - drive.size_bytes, 'growing the drive');
    this.#beginOp(id, 'resize', drive.pool, null, drive.file, { size_bytes: bytes });
    const notes = this.#applyGrow(file, bytes, drive);
    this.#store.db.transaction(() => {
      this.#store.db.prepare('UPDATE drives SET size_bytes = ?, updated_at = ? WHERE id = ?').run(bytes, now(), id);
      this.#endOp(id);
    })();
    this.#audit('drive.resize', id, who, { from_bytes: drive.size_bytes, size_bytes: bytes });
    this.#bus.emit('drive_state', { id });
    return { drive: this.view(id), notes };
  }

  #applyGrow(file: string, bytes: number, drive: DriveRecord): string[] {
    const fd = fs.openSync(file, 'r+');
    try {
      if (fs.fstatSync(fd).size < bytes) fs.ftruncateSync(fd, bytes);
      const grew = drive.partition === 'mbr' && growMbrPartition(fd, bytes);
      fs.fsyncSync(fd);
      const notes = [grew ? 'the partition now fills the drive' : 'the raw size grew'];
      if (drive.filesystem === 'fat32' || drive.filesystem === 'exfat') {
        notes.push(`the ${drive.filesystem} filesystem keeps its old size: back up its files and recreate it, or grow it from the host`);
      }
      return notes;
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Refused while attached. `force` unregisters a drive whose image or pool is gone. Referenced images are kept. */
  async remove(id: string, options: { force?: boolean }, who: Actor): Promise<{ removed_file: boolean }> {
    const drive = this.get(id);
    if (drive.attached) throw new PiDriveError('conflict', `drive "${id}" is attached; detach it first`, { id: 'attached' });
    const pool = this.#pools.ofDrive(drive.pool);
    let file: string | null = null;
    if (pool.available) {
      file = pathInPool(pool.path, drive.file, 'file');
      if (!fs.existsSync(file)) file = null;
    }
    if (!file && !options.force) {
      const why = pool.available ? `the image of "${id}" is missing` : `drive "${id}": ${unavailableMessage(pool)}`;
      throw new PiDriveError('conflict', `${why}; use --force to unregister it`, { id: pool.available ? 'image missing' : 'pool unavailable' });
    }
    const deleteFile = file !== null && drive.source !== 'referenced';
    this.#beginOp(id, 'remove', drive.pool, null, drive.file, { delete_file: deleteFile });
    if (deleteFile) fs.rmSync(file!, { force: true });
    this.#store.db.transaction(() => {
      this.#store.db.prepare('DELETE FROM drives WHERE id = ?').run(id);
      this.#endOp(id);
    })();
    this.#audit('drive.remove', id, who, { force: Boolean(options.force), deleted_file: deleteFile });
    this.#bus.emit('drive_removed', { id });
    return { removed_file: deleteFile };
  }

  /** Runtime fields written by the gadget layer (what is attached where) and mode changes. */
  setRuntime(id: string, patch: { attached?: boolean; lun?: number | null; mode?: DriveMode }): DriveRecord {
    const drive = this.get(id);
    const next = { ...drive, ...patch };
    this.#store.db
      .prepare('UPDATE drives SET attached = ?, lun = ?, mode = ?, updated_at = ? WHERE id = ?')
      .run(next.attached ? 1 : 0, next.lun, next.mode, now(), id);
    this.#bus.emit('drive_state', { id });
    return this.get(id);
  }

  setOwner(id: string, owner: string | null): DriveRecord {
    this.get(id);
    this.#store.db.prepare('UPDATE drives SET owner = ?, updated_at = ? WHERE id = ?').run(owner, now(), id);
    return this.get(id);
  }

  /**
   * Startup: finishes or undoes journalled operations a crash interrupted, deletes stray temporary
   * files, and reports drives whose image or pool is missing. Returns one line per fix.
   */
  reconcile(): string[] {
    const fixed: string[] = [];
    const ops = this.#store.db.prepare('SELECT * FROM drive_ops').all() as OpRow[];
    for (const op of ops) fixed.push(this.#recover(op));
    const pools = this.#pools.list();
    const gone = this.list().filter((d) => !pools.some((p) => p.name === d.pool));
    for (const d of gone) this.#log.warn('pool no longer configured; its drive is unavailable', { pool: d.pool, drive: d.id });
    for (const pool of pools) {
      if (!pool.available) {
        const affected = this.list().filter((d) => d.pool === pool.name).map((d) => d.id);
        if (affected.length) this.#log.warn('pool unavailable; its drives are unavailable', { pool: pool.name, reason: pool.reason, drives: affected });
        continue;
      }
      for (const name of fs.readdirSync(pool.path)) {
        if (!name.startsWith(TEMP_PREFIX)) continue;
        fs.rmSync(path.join(pool.path, name), { force: true });
        fixed.push(`removed the unfinished image ${name} from pool "${pool.name}"`);
      }
      for (const d of this.list().filter((x) => x.pool === pool.name)) {
        if (!fs.existsSync(path.join(pool.path, d.file))) this.#log.warn('drive image missing', { drive: d.id, pool: pool.name, file: d.file });
      }
    }
    for (const line of fixed) this.#log.info('reconciled', { fix: line });
    return fixed;
  }

  #recover(op: OpRow): string {
    const pool = this.#pools.ofDrive(op.pool);
    const details = JSON.parse(op.details) as Record<string, unknown>;
    const inPool = (f: string | null): string | null => (f && pool.available ? pathInPool(pool.path, f, 'file') : null);
    const registered = this.find(op.drive) !== null;
    let line: string;
    if (op.op === 'provision') {
      const tmp = inPool(op.tmp_file);
      if (tmp) fs.rmSync(tmp, { force: true });
      const final = inPool(op.final_file);
      if (!registered && final) fs.rmSync(final, { force: true });
      line = registered ? `kept drive "${op.drive}" (its creation had completed)` : `rolled back the unfinished creation of drive "${op.drive}"`;
    } else if (op.op === 'attach') {
      // The gadget's own start decides what is attached; the database still says detached.
      line = `cleared the interrupted attach of drive "${op.drive}"`;
    } else if (op.op === 'replace') {
      const tmp = inPool(op.tmp_file);
      const unfinished = tmp !== null && fs.existsSync(tmp);
      if (tmp) fs.rmSync(tmp, { force: true });
      // Whichever image is in place now (the old one, or the new one if the rename happened), the
      // drive's size follows it.
      const final = inPool(op.final_file);
      if (registered && final && fs.existsSync(final)) {
        this.#store.db.prepare('UPDATE drives SET size_bytes = ?, updated_at = ? WHERE id = ?').run(fs.statSync(final).size, now(), op.drive);
      }
      line = unfinished ? `kept the old image of drive "${op.drive}" (the restore rewriting it had not finished)` : `finished the interrupted image replacement of drive "${op.drive}"`;
    } else if (op.op === 'resize') {
      const file = inPool(op.final_file);
      const drive = this.find(op.drive);
      if (file && drive && fs.existsSync(file)) {
        const bytes = Number(details.size_bytes);
        this.#applyGrow(file, bytes, drive);
        this.#store.db.prepare('UPDATE drives SET size_bytes = ?, updated_at = ? WHERE id = ?').run(bytes, now(), op.drive);
      }
      line = `finished growing drive "${op.drive}"`;
    } else {
      const file = inPool(op.final_file);
      if (details.delete_file && file) fs.rmSync(file, { force: true });
      this.#store.db.prepare('DELETE FROM drives WHERE id = ?').run(op.drive);
      line = `finished removing drive "${op.drive}"`;
    }
    this.#endOp(op.drive);
    return line;
  }

  #beginOp(id: string, op: OpRow['op'], pool: string, tmp: string | null, final: string, details: Record<string, unknown> = {}): void {
    if (op === 'provision' && this.find(id)) throw new PiDriveError('conflict', `drive "${id}" already exists`, { id: 'already exists' });
    try {
      this.#store.db
        .prepare('INSERT INTO drive_ops (drive, op, pool, tmp_file, final_file, details, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(id, op, pool, tmp, final, JSON.stringify(details), now());
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        const running = this.#store.db.prepare('SELECT op FROM drive_ops WHERE drive = ?').pluck().get(id) as OpRow['op'] | undefined;
        throw new PiDriveError('conflict', `drive "${id}" is busy (${running ? BUSY_WITH[running] : 'another operation'}); try again when that is done`, { id: 'busy' });
      }
      throw err;
    }
  }

  #endOp(id: string): void {
    this.#store.db.prepare('DELETE FROM drive_ops WHERE drive = ?').run(id);
  }

  #insert(r: Omit<DriveRecord, 'attached' | 'lun' | 'created_at' | 'updated_at'>): void {
    const t = now();
    this.#store.db
      .prepare(
        `INSERT INTO drives (id, pool, file, size_bytes, filesystem, label, partition, mode, source, attached, lun, owner, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, ?, ?, ?)`,
      )
      .run(r.id, r.pool, r.file, r.size_bytes, r.filesystem, r.label, r.partition, r.mode, r.source, r.owner, t, t);
  }

  #audit(action: string, drive: string, who: Actor, details: Record<string, unknown>): void {
    this.#events.append({ kind: 'audit', action, actor: who.actor, source: who.source ?? null, drive, details });
  }

  #toView(drive: DriveRecord): Drive {
    const { file, ...rest } = drive;
    const pool = this.#pools.ofDrive(drive.pool);
    const full = path.join(pool.path, file);
    let allocated = 0;
    let reason = pool.available ? null : unavailableMessage(pool);
    if (!reason) {
      try {
        allocated = allocatedBytes(full);
      } catch {
        reason = 'image file missing';
      }
    }
    const host = this.#hostState();
    const attachedHost = drive.attached ? host : NO_HOST;
    return {
      ...rest,
      path: full,
      allocated_bytes: allocated,
      available: reason === null,
      unavailable_reason: reason,
      host_connected: attachedHost.host_connected,
      host_writing: attachedHost.host_writing,
      host_idle_s: attachedHost.host_idle_s,
      ...this.#backupInfo(drive.id),
    };
  }
}

interface RawRow extends Omit<DriveRecord, 'attached'> {
  attached: number;
}

/** A row that does not match the model (written by an older, laxer version) is named, not dumped. */
function fromRow(row: RawRow): DriveRecord {
  const parsed = DriveRecord.safeParse({ ...row, attached: row.attached === 1 });
  if (parsed.success) return parsed.data;
  const problems = fromZodIssues('internal', parsed.error.issues);
  throw new PiDriveError('internal', `drive "${row.id}" has an invalid record in the database: ${problems.message}`, problems.fields);
}



function now(): string {
  return new Date().toISOString();
}

const BUSY_WITH: Record<OpRow['op'], string> = {
  provision: 'being created',
  resize: 'being resized',
  remove: 'being removed',
  replace: 'a restore is rewriting its image',
  attach: 'being attached',
};

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
