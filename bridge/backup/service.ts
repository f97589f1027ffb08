import { fromZodIssues, PiDriveError } from '../core/errors.ts';
import { DriveId, Filesystem, PartitionScheme, DriveMode, type DriveBackupInfo, type DriveRecord } from '../drives/model.ts';
import { backupImage } from './backup-image.ts';
import { consistentImage } from './consistency.ts';
import type { Manifest } from './format.ts';
import { JobRunner, type JobContext } from './jobs.ts';
import { pruneRepository, type RetentionPolicy } from './prune.ts';
import { RepositoryRegistry } from './registry.ts';
import { restoreSnapshot } from './restore.ts';
import { Scheduler } from './schedules.ts';
import { BACKUP_MIGRATIONS } from './schema.ts';
import {
  KeepPolicy,
  RestoreTarget,
  type AddRepositoryInput,
  type BackupControl,
  type BackupDeps,
  type Job,
  type JobFilter,
  type Repository,
  type Schedule,
  type ScheduleInput,
  type Snapshot,
} from './types.ts';
import { verifyRepository } from './verify.ts';

interface DriveStateRow {
  drive: string;
  repository: string;
  snapshot: string;
  time: string;
  new_bytes: number;
  suspicious_change: number;
}

export function snapshotView(m: Manifest, repository: string): Snapshot {
  return {
    id: m.id,
    drive: m.drive,
    repository,
    time: m.time,
    size_bytes: m.size_bytes,
    block_size: m.block_size,
    data_blocks: m.stats.data_blocks,
    data_bytes: m.stats.data_bytes,
    changed_blocks: m.stats.changed_blocks,
    new_chunks: m.stats.new_chunks,
    new_bytes: m.stats.new_bytes,
    incompressible_ratio: m.stats.incompressible_ratio,
    suspicious_change: m.stats.suspicious_change,
    parent: m.parent,
    source: m.source,
    duration_ms: m.stats.duration_ms,
  };
}

/**
 * BackupControl: repositories, snapshots, jobs and schedules. The same service runs inside the
 * daemon (with the gadget's AttachmentControl) and in offline CLI commands (without it).
 */
export class BackupService implements BackupControl {
  readonly #deps: BackupDeps;
  readonly registry: RepositoryRegistry;
  readonly jobs: JobRunner;
  readonly scheduler: Scheduler;
  readonly #lastPercent = new Map<string, number>();

  constructor(deps: BackupDeps) {
    this.#deps = deps;
    deps.store.migrate('backup', BACKUP_MIGRATIONS);
    this.registry = new RepositoryRegistry(deps.store, deps.config);
    this.jobs = new JobRunner({
      store: deps.store,
      bus: deps.bus,
      log: deps.log,
      clock: deps.clock,
      handlers: {
        backup: (ctx) => this.#runBackup(ctx),
        restore: (ctx) => this.#runRestore(ctx),
        verify: (ctx) => this.#runVerify(ctx),
        prune: (ctx) => this.#runPrune(ctx),
      },
      onChange: (job) => this.#jobChanged(job),
    });
    this.scheduler = new Scheduler({ store: deps.store, config: deps.config, clock: deps.clock, log: deps.log, run: (s) => this.#scheduled(s) });
  }

  // ---- repositories ----

  listRepositories(): Promise<Repository[]> {
    return this.registry.list();
  }

  async addRepository(input: AddRepositoryInput, actor: string): Promise<Repository> {
    const repo = await this.registry.add(input);
    this.#audit('repository.add', actor, null, { name: repo.name, url: repo.url, block_size: repo.block_size });
    return repo;
  }

  // ---- snapshots ----

  async listSnapshots(driveId: string, options: { repository?: string } = {}): Promise<Snapshot[]> {
    const drive = checkDriveId(driveId);
    const name = this.#repositoryFor(drive, options.repository);
    const repo = await this.registry.open(name);
    return (await repo.snapshots(drive)).manifests.map((m) => snapshotView(m, name));
  }

  // ---- jobs ----

  startBackup(driveId: string, options: { repository?: string; actor: string }): Job {
    const drive = this.#deps.drives.get(checkDriveId(driveId));
    const repository = this.#repositoryFor(drive.id, options.repository);
    const job = this.jobs.enqueue({ type: 'backup', drive: drive.id, repository, actor: options.actor, params: {} });
    this.#audit('backup.start', options.actor, drive.id, { job: job.id, repository });
    return job;
  }

  startRestore(driveId: string, snapshot: string, options: { repository?: string; target: RestoreTarget; actor: string; owner?: string | null }): Job {
    const drive = checkDriveId(driveId);
    const target = RestoreTarget.safeParse(options.target);
    if (!target.success) throw fromZodIssues('bad_request', target.error.issues, 'target');
    if (typeof snapshot !== 'string' || snapshot.length === 0) throw new PiDriveError('bad_request', 'snapshot: name a snapshot id or "latest"', { snapshot: 'required' });
    const repository = this.#repositoryFor(drive, options.repository);
    // The copy belongs to the user who asked or, asked by a token, MQTT or the CLI, to the source's
    // owner (the snapshot's record of it once the drive is gone): a copy of a private drive never
    // becomes visible to everyone.
    const owner = target.data.kind === 'new_drive' ? (options.owner ?? this.#deps.drives.find(drive)?.owner ?? null) : null;
    if (target.data.kind === 'new_drive') {
      if (this.#deps.drives.find(target.data.drive)) throw new PiDriveError('conflict', `drive "${target.data.drive}" already exists; pick a new id`, { to: 'already exists' });
    } else {
      const existing = this.#deps.drives.get(drive);
      if (existing.attached) throw new PiDriveError('conflict', `drive "${drive}" is attached; detach it before restoring in place`, { id: 'attached' });
      if (existing.source === 'referenced') {
        throw new PiDriveError('conflict', `drive "${drive}" references an image PiDrive does not own; restore into a new drive instead`, { id: 'referenced' });
      }
    }
    const job = this.jobs.enqueue({
      type: 'restore',
      drive: target.data.kind === 'new_drive' ? target.data.drive : drive,
      repository,
      actor: options.actor,
      params: { source_drive: drive, snapshot, target: target.data, ...(owner ? { owner } : {}) },
    });
    this.#audit('backup.restore', options.actor, drive, { job: job.id, repository, snapshot, target: target.data });
    return job;
  }

  startVerify(options: { repository?: string; samplePercent?: number; actor: string }): Job {
    const repository = this.#repositoryFor(null, options.repository);
    const sample = options.samplePercent ?? 100;
    if (typeof sample !== 'number' || !Number.isFinite(sample) || sample <= 0 || sample > 100) {
      throw new PiDriveError('bad_request', 'sample: a percentage above 0 and at most 100', { sample: 'out of range' });
    }
    const job = this.jobs.enqueue({ type: 'verify', drive: null, repository, actor: options.actor, params: { sample_percent: sample } });
    this.#audit('backup.verify', options.actor, null, { job: job.id, repository, sample_percent: sample });
    return job;
  }

  startPrune(options: { repository?: string; keep?: KeepPolicy; actor: string; drives?: string[]; timezone?: string }): Job {
    const repository = this.#repositoryFor(null, options.repository);
    let keep: KeepPolicy | undefined;
    if (options.keep !== undefined) {
      const parsed = KeepPolicy.safeParse(options.keep);
      if (!parsed.success) throw fromZodIssues('bad_request', parsed.error.issues, 'keep');
      keep = parsed.data;
    }
    const job = this.jobs.enqueue({
      type: 'prune',
      drive: null,
      repository,
      actor: options.actor,
      params: { ...(keep ? { keep } : {}), ...(options.drives ? { drives: options.drives } : {}), ...(options.timezone ? { timezone: options.timezone } : {}) },
    });
    this.#audit('backup.prune', options.actor, null, { job: job.id, repository, keep: keep ?? 'from schedules' });
    return job;
  }

  listJobs(filter?: JobFilter): Job[] {
    return this.jobs.list(filter);
  }

  getJob(id: string): Job {
    return this.jobs.get(id);
  }

  cancelJob(id: string, actor: string): Job {
    const job = this.jobs.cancel(id);
    this.#audit('job.cancel', actor, job.drive, { job: id, type: job.type });
    return job;
  }

  waitForJob(id: string): Promise<Job> {
    return this.jobs.wait(id);
  }

  // ---- schedules ----

  listSchedules(): Schedule[] {
    return this.scheduler.list();
  }

  addSchedule(input: ScheduleInput, actor: string): Schedule {
    const s = this.scheduler.add(input, (x) => this.#validateSchedule(x));
    this.#audit('schedule.add', actor, null, { schedule: s.id, drives: s.drives, cron: s.cron, repository: s.repository });
    return s;
  }

  updateSchedule(id: string, patch: Partial<ScheduleInput>, actor: string): Schedule {
    const s = this.scheduler.update(id, patch, (x) => this.#validateSchedule(x));
    this.#audit('schedule.update', actor, null, { schedule: id, ...patch });
    return s;
  }

  removeSchedule(id: string, actor: string): void {
    this.scheduler.remove(id);
    this.#audit('schedule.remove', actor, null, { schedule: id });
  }

  #validateSchedule(s: ScheduleInput): void {
    this.registry.validateName(s.repository);
    const unknown = s.drives.filter((d) => !this.#deps.drives.find(d));
    if (unknown.length) throw new PiDriveError('not_found', `drives: no drive ${unknown.map((d) => `"${d}"`).join(', ')}`, { drives: 'unknown drive' });
  }

  // ---- drive view ----

  driveBackupInfo(driveId: string): DriveBackupInfo {
    const row = this.#deps.store.db.prepare('SELECT * FROM backup_drive_state WHERE drive = ?').get(driveId) as DriveStateRow | undefined;
    const backups = this.jobs.list({ drive: driveId, type: 'backup', limit: 20 });
    const running = backups.find((j) => j.state === 'running');
    const queued = backups.some((j) => j.state === 'queued');
    const latest = backups.find((j) => j.state !== 'queued');
    return {
      last_backup: row?.time ?? null,
      last_backup_bytes: row?.new_bytes ?? null,
      backup_state: running ? 'running' : queued ? 'queued' : latest?.state === 'failed' ? 'failed' : 'idle',
      backup_progress: running ? Math.round(running.progress.percent * 10) / 10 : null,
      suspicious_change: row ? row.suspicious_change === 1 : false,
    };
  }

  // ---- lifecycle (the extension) ----

  start(): void {
    this.scheduler.checkConfig();
    this.jobs.recover();
    this.jobs.start();
    this.scheduler.start();
  }

  async stop(): Promise<void> {
    this.scheduler.stop();
    await this.jobs.stop();
    await this.registry.close();
  }

  // ---- job handlers ----

  async #runBackup(ctx: JobContext): Promise<Record<string, unknown>> {
    const { config, clock, attachments, drives } = this.#deps;
    const drive = drives.get(ctx.job.drive!);
    const repo = await this.registry.open(ctx.job.repository);
    ctx.progress('preparing', 0, 0);
    const image = await consistentImage(
      { drives, attachments, clock, idleSeconds: config.gadget.host_idle_s, idleWaitSeconds: config.backup.idle_wait_s },
      drive,
      ctx.signal,
      (phase) => ctx.progress(phase, 0, 0),
    );
    try {
      const manifest = await backupImage({
        repo,
        imagePath: image.path,
        driveId: drive.id,
        time: image.time,
        source: image.source,
        driveInfo: { filesystem: drive.filesystem, label: drive.label, partition: drive.partition, mode: drive.mode, owner: drive.owner },
        workers: config.backup.workers,
        signal: ctx.signal,
        onProgress: (p) => ctx.progress(p.phase, p.done, p.total),
        onLockWait: (holder) => ctx.progress(`waiting for the repository (${holder})`, 0, 0),
        suspicious: { ratio: config.backup.suspicious_change_ratio, minBlocks: config.backup.suspicious_min_blocks },
        beforeCommit: () => image.check(),
      });
      this.#deps.store.db
        .prepare('INSERT OR REPLACE INTO backup_drive_state (drive, repository, snapshot, time, new_bytes, suspicious_change) VALUES (?, ?, ?, ?, ?, ?)')
        .run(drive.id, ctx.job.repository, manifest.id, manifest.time, manifest.stats.new_bytes, manifest.stats.suspicious_change ? 1 : 0);
      return snapshotView(manifest, ctx.job.repository);
    } finally {
      await image.release();
    }
  }

  async #runRestore(ctx: JobContext): Promise<Record<string, unknown>> {
    const { drives, config } = this.#deps;
    const params = ctx.job.params as { source_drive: string; snapshot: string; target: RestoreTarget; owner?: string };
    const repo = await this.registry.open(ctx.job.repository);
    const manifest = await repo.resolve(params.source_drive, params.snapshot);
    const common = { repo, manifest, workers: config.backup.workers, signal: ctx.signal, onProgress: (p: { phase: string; done: number; total: number }) => ctx.progress(p.phase, p.done, p.total) };
    if (params.target.kind === 'new_drive') {
      const source = drives.find(params.source_drive);
      const info = manifest.drive_info;
      const created = await drives.provision(
        {
          id: params.target.drive,
          pool: params.target.pool ?? source?.pool ?? 'local',
          size_bytes: manifest.size_bytes,
          filesystem: Filesystem.catch('unknown').parse(info?.filesystem ?? source?.filesystem),
          label: info ? info.label : (source?.label ?? null),
          partition: PartitionScheme.catch('none').parse(info?.partition ?? source?.partition),
          mode: DriveMode.catch('read_write').parse(info?.mode ?? source?.mode),
          source: 'restored',
          owner: params.owner ?? info?.owner ?? null,
        },
        async (tmp) => {
          await restoreSnapshot({ ...common, outputPath: tmp });
        },
      );
      return { drive: created.id, snapshot: manifest.id, source_drive: manifest.drive, size_bytes: manifest.size_bytes, in_place: false };
    }
    // The old image stays whole until the restored one is complete; see DriveService.replaceImage.
    const drive = drives.get(params.source_drive);
    const replaced = await drives.replaceImage(drive.id, async (tmp) => {
      await restoreSnapshot({ ...common, outputPath: tmp, minSize: drive.size_bytes });
    });
    return { drive: drive.id, snapshot: manifest.id, source_drive: manifest.drive, size_bytes: replaced.size_bytes, in_place: true };
  }

  async #runVerify(ctx: JobContext): Promise<Record<string, unknown>> {
    const repo = await this.registry.open(ctx.job.repository);
    const report = await verifyRepository({
      repo,
      samplePercent: ctx.job.params.sample_percent as number,
      workers: this.#deps.config.backup.workers,
      signal: ctx.signal,
      onProgress: (p) => ctx.progress(p.phase, p.done, p.total),
    });
    if (!report.ok) {
      const snaps = new Set([...report.corrupt.flatMap((c) => c.snapshots.map((s) => s.snapshot)), ...report.damaged_snapshots.map((d) => d.snapshot)]);
      const err = new PiDriveError(
        'internal',
        `verify found ${report.corrupt.length} damaged chunk(s) and ${report.damaged_snapshots.length} unreadable snapshot(s); ${snaps.size} snapshot(s) cannot be restored fully`,
      );
      throw Object.assign(err, { result: report });
    }
    return report;
  }

  async #runPrune(ctx: JobContext): Promise<Record<string, unknown>> {
    const repo = await this.registry.open(ctx.job.repository);
    const p = ctx.job.params as { keep?: KeepPolicy; drives?: string[]; timezone?: string };
    const policies: RetentionPolicy[] = p.keep
      ? [{ keep: p.keep, ...(p.drives ? { drives: p.drives } : {}), ...(p.timezone ? { timeZone: p.timezone } : {}) }]
      : this.scheduler
          .definitions()
          .filter((s) => s.repository === ctx.job.repository && s.keep)
          .map((s) => ({ keep: s.keep!, drives: s.drives, timeZone: s.timezone }));
    const report = await pruneRepository({
      repo,
      policies,
      graceMs: this.#deps.config.backup.gc_grace_hours * 3_600_000,
      signal: ctx.signal,
      onProgress: (x) => ctx.progress(x.phase, x.done, x.total),
      onLockWait: (holder) => ctx.progress(`waiting for the repository (${holder})`, 0, 0),
      now: () => this.#deps.clock.now(),
    });
    return report;
  }

  // ---- plumbing ----

  #scheduled(s: { id: string; drives: string[]; repository: string; keep: KeepPolicy | null; timezone: string }): void {
    for (const drive of s.drives) {
      try {
        this.startBackup(drive, { repository: s.repository, actor: `schedule:${s.id}` });
      } catch (err) {
        this.#deps.log.warn('scheduled backup not started', { schedule: s.id, drive, err });
      }
    }
    if (s.keep) this.startPrune({ repository: s.repository, keep: s.keep, drives: s.drives, timezone: s.timezone, actor: `schedule:${s.id}` });
  }

  #repositoryFor(driveId: string | null, requested: string | undefined): string {
    if (requested !== undefined) return this.registry.validateName(requested);
    return this.registry.defaultFor(driveId, this.scheduler.definitions());
  }

  #jobChanged(job: Job): void {
    if (!job.drive) return;
    const { bus } = this.#deps;
    const key = job.id;
    if (job.type === 'backup') {
      const percent = job.state === 'running' ? Math.floor(job.progress.percent) : -1;
      const previous = this.#lastPercent.get(key);
      if (previous !== percent || job.state !== 'running') bus.emit('drive_state', { id: job.drive });
      if (job.state === 'running' && previous === undefined) {
        bus.emit('drive_event', { drive: job.drive, event_type: 'backup_started', job: job.id, repository: job.repository });
      }
      if (job.state === 'running') this.#lastPercent.set(key, percent);
      else if (job.state !== 'queued') this.#lastPercent.delete(key);
      if (job.state === 'succeeded') {
        const snap = job.result as Snapshot;
        bus.emit('drive_event', {
          drive: job.drive,
          event_type: 'backup_completed',
          job: job.id,
          repository: job.repository,
          snapshot: snap.id,
          new_bytes: snap.new_bytes,
          changed_blocks: snap.changed_blocks,
          suspicious_change: snap.suspicious_change,
        });
        this.#deps.events.append({ kind: 'state', action: 'backup.completed', actor: job.actor, drive: job.drive, details: { snapshot: snap.id, new_bytes: snap.new_bytes } });
      } else if (job.state === 'failed' || job.state === 'canceled') {
        const reason = job.state === 'canceled' ? 'canceled' : (job.error?.message ?? 'failed');
        bus.emit('drive_event', { drive: job.drive, event_type: 'backup_failed', job: job.id, repository: job.repository, error: reason });
        this.#deps.events.append({ kind: 'state', action: 'backup.failed', actor: job.actor, drive: job.drive, details: { error: reason } });
      }
    }
  }

  #audit(action: string, actor: string, drive: string | null, details: Record<string, unknown>): void {
    this.#deps.events.append({ kind: 'audit', action, actor, drive, details });
  }
}

function checkDriveId(id: string): string {
  const parsed = DriveId.safeParse(id);
  if (!parsed.success) throw fromZodIssues('bad_request', parsed.error.issues, 'id');
  return parsed.data;
}
