import { z } from 'zod';
import type { Extension } from '../context.ts';
import type { Clock } from '../core/clock.ts';
import type { EventBus } from '../core/event-bus.ts';
import type { Logger } from '../core/logger.ts';
import type { Config } from '../config/schema.ts';
import { DriveId, PoolName, type DriveBackupInfo, type DriveRecord } from '../drives/model.ts';
import type { ProvisionSpec } from '../drives/service.ts';
import type { AttachmentControl } from '../gadget/types.ts';
import type { Store } from '../store/database.ts';
import type { EventsRepo } from '../store/events-repo.ts';

/** Repository names share the pool-name rule: safe in URLs, topics and file names. */
export const RepositoryName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'must be 1-32 characters: lowercase letters, digits, dashes and underscores');

export const SnapshotId = z.string().regex(/^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$/, 'must look like 20250101T120000Z-a1b2c3');

/** A snapshot as the API, the CLI (`backup list --json`) and MQTT consumers see it. */
export const Snapshot = z.object({
  id: SnapshotId,
  drive: DriveId,
  repository: RepositoryName,
  time: z.string().describe('when the image was captured (ISO 8601)'),
  size_bytes: z.number().int().nonnegative().describe('apparent size of the image'),
  block_size: z.number().int().positive(),
  data_blocks: z.number().int().nonnegative().describe('blocks holding non-zero data'),
  data_bytes: z.number().int().nonnegative().describe('data_blocks × block_size (the tail block counted as its real length)'),
  changed_blocks: z.number().int().nonnegative().describe('block positions whose content differs from the previous snapshot of the drive'),
  new_chunks: z.number().int().nonnegative().describe('chunks this snapshot added to the repository'),
  new_bytes: z.number().int().nonnegative().describe('stored (compressed) bytes this snapshot added to the repository'),
  incompressible_ratio: z.number().min(0).max(1).describe('share of changed blocks whose new content does not compress'),
  suspicious_change: z.boolean().describe('incompressible rewrites rose past backup.suspicious_change_ratio (what ransomware encryption looks like)'),
  parent: SnapshotId.nullable().describe('the previous snapshot this one was compared with'),
  source: z.enum(['detached', 'reflink', 'file']).describe('how a consistent image was obtained'),
  duration_ms: z.number().int().nonnegative(),
});
export type Snapshot = z.infer<typeof Snapshot>;

export const RepositoryKind = z.enum(['folder', 's3']);

/** A repository as listed (never carries secrets). */
export const Repository = z.object({
  name: RepositoryName,
  url: z.string(),
  kind: RepositoryKind,
  origin: z.enum(['config', 'cli']),
  block_size: z.number().int().positive().nullable().describe('null until the repository could be opened'),
  available: z.boolean(),
  reason: z.string().nullable(),
});
export type Repository = z.infer<typeof Repository>;

/** `pidrive repo add NAME URL`, `POST /repositories`. Credentials are kept in the database, never returned. */
export const AddRepositoryInput = z
  .object({
    name: RepositoryName,
    url: z.string().min(1, 'must not be empty'),
    block_size: z.number().int().min(256 * 1024).max(4 * 1024 * 1024).refine((n) => (n & (n - 1)) === 0, 'must be a power of two').optional(),
    access_key_id: z.string().min(1).optional(),
    secret_access_key: z.string().min(1).optional(),
  })
  .strict();
export type AddRepositoryInput = z.input<typeof AddRepositoryInput>;

export const KeepPolicy = z
  .object({
    last: z.number().int().nonnegative().optional(),
    hourly: z.number().int().nonnegative().optional(),
    daily: z.number().int().nonnegative().optional(),
    weekly: z.number().int().nonnegative().optional(),
    monthly: z.number().int().nonnegative().optional(),
  })
  .strict();
export type KeepPolicy = z.infer<typeof KeepPolicy>;

export const JobType = z.enum(['backup', 'restore', 'verify', 'prune']);
export type JobType = z.infer<typeof JobType>;
export const JobState = z.enum(['queued', 'running', 'succeeded', 'failed', 'canceled']);
export type JobState = z.infer<typeof JobState>;

export const JobProgress = z.object({
  phase: z.string().describe('what the job is doing now, e.g. "waiting for an idle host", "reading", "collecting garbage"'),
  bytes_done: z.number().int().nonnegative(),
  bytes_total: z.number().int().nonnegative(),
  percent: z.number().min(0).max(100),
  rate_bps: z.number().nonnegative().describe('bytes per second over the last seconds'),
  eta_s: z.number().nonnegative().nullable(),
});
export type JobProgress = z.infer<typeof JobProgress>;

/** A long operation. Its state survives restarts; `job` events on the bus carry this object. */
export const Job = z.object({
  id: z.string(),
  type: JobType,
  state: JobState,
  drive: DriveId.nullable(),
  repository: RepositoryName,
  actor: z.string(),
  params: z.record(z.string(), z.unknown()),
  progress: JobProgress,
  /** backup: the Snapshot; restore: {drive, snapshot, bytes_written}; verify: VerifyReport; prune: PruneReport. */
  result: z.record(z.string(), z.unknown()).nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
});
export type Job = z.infer<typeof Job>;

export const CorruptChunk = z.object({
  chunk: z.string().describe('chunk id (SHA-256, hex)'),
  problem: z.enum(['missing', 'unreadable', 'hash_mismatch']),
  snapshots: z.array(z.object({ drive: DriveId, snapshot: SnapshotId })).describe('snapshots that cannot be restored fully'),
});
export type CorruptChunk = z.infer<typeof CorruptChunk>;

export const VerifyReport = z.object({
  ok: z.boolean(),
  snapshots: z.number().int().nonnegative(),
  chunks_total: z.number().int().nonnegative().describe('distinct chunks referenced'),
  chunks_checked: z.number().int().nonnegative(),
  bytes_checked: z.number().int().nonnegative().describe('stored bytes read'),
  sample_percent: z.number().min(0).max(100),
  corrupt: z.array(CorruptChunk),
  damaged_snapshots: z.array(z.object({ drive: DriveId, snapshot: SnapshotId, problem: z.string() })).describe('snapshots whose manifest or index is unreadable'),
});
export type VerifyReport = z.infer<typeof VerifyReport>;

export const PruneReport = z.object({
  removed_snapshots: z.array(z.object({ drive: DriveId, snapshot: SnapshotId })),
  kept_snapshots: z.number().int().nonnegative(),
  removed_chunks: z.number().int().nonnegative(),
  removed_bytes: z.number().int().nonnegative(),
  /** Unreferenced chunks younger than backup.gc_grace_hours, kept for now (a crashed backup's work, reused by the next). */
  grace_chunks: z.number().int().nonnegative(),
  removed_leftovers: z.number().int().nonnegative().describe('temporary files and orphan indexes of interrupted backups'),
});
export type PruneReport = z.infer<typeof PruneReport>;

export const Schedule = z.object({
  id: z.string(),
  origin: z.enum(['config', 'api']),
  drives: z.array(DriveId).min(1),
  cron: z.string(),
  timezone: z.string(),
  repository: RepositoryName,
  keep: KeepPolicy.nullable(),
  next_run: z.string().nullable(),
  last_run: z.string().nullable(),
});
export type Schedule = z.infer<typeof Schedule>;

export const ScheduleInput = z
  .object({
    drives: z.array(DriveId).min(1, 'must name at least one drive'),
    cron: z.string().min(1, 'must not be empty'),
    timezone: z.string().default('UTC'),
    repository: RepositoryName,
    keep: KeepPolicy.optional(),
  })
  .strict();
export type ScheduleInput = z.input<typeof ScheduleInput>;

export const RestoreTarget = z.union([
  z.object({ kind: z.literal('new_drive'), drive: DriveId, pool: PoolName.optional() }).strict(),
  z.object({ kind: z.literal('in_place') }).strict(),
]);
export type RestoreTarget = z.infer<typeof RestoreTarget>;

export interface JobFilter {
  drive?: string;
  state?: JobState;
  type?: JobType;
  limit?: number;
}

/**
 * What the API (issue 6), MQTT (issue 4), CLI and Node-RED call. Authorization is the caller's job:
 * restoring in place is admin-only, restoring into a new drive is operator. Every start* returns at
 * once with the queued job (one job per drive at a time, the rest wait in order); progress and
 * completion arrive as `job` events on the bus and through getJob/waitForJob.
 */
export interface BackupControl {
  listRepositories(): Promise<Repository[]>;
  /** Creates the repository when the URL holds none yet; adopts an existing one (its block size wins). */
  addRepository(input: AddRepositoryInput, actor: string): Promise<Repository>;

  /** Newest first. `repository` defaults to the drive's default repository. */
  listSnapshots(driveId: string, options?: { repository?: string }): Promise<Snapshot[]>;

  /** A backup of one drive; a backup of the same drive already queued is returned instead of a second one. */
  startBackup(driveId: string, options: { repository?: string; actor: string }): Job;
  /** `snapshot` may be an id or "latest". */
  /** `owner`: the user a new drive belongs to, by default the source drive's (kept with the job, so a resumed restore keeps it). */
  startRestore(driveId: string, snapshot: string, options: { repository?: string; target: RestoreTarget; actor: string; owner?: string | null }): Job;
  startVerify(options: { repository?: string; samplePercent?: number; actor: string }): Job;
  /** `keep` defaults to the keep policy of the repository's schedule(s); with neither, nothing is forgotten and only garbage is collected. */
  startPrune(options: { repository?: string; keep?: KeepPolicy; actor: string }): Job;

  listJobs(filter?: JobFilter): Job[];
  getJob(id: string): Job;
  cancelJob(id: string, actor: string): Job;
  /** Resolves when the job has finished (succeeded, failed or canceled). */
  waitForJob(id: string): Promise<Job>;

  listSchedules(): Schedule[];
  addSchedule(input: ScheduleInput, actor: string): Schedule;
  updateSchedule(id: string, patch: Partial<ScheduleInput>, actor: string): Schedule;
  removeSchedule(id: string, actor: string): void;

  /** The drive view's backup fields (read from the database, cheap). */
  driveBackupInfo(driveId: string): DriveBackupInfo;
}

/** The parts of DriveService the backup module uses. */
export interface BackupDrives {
  get(id: string): DriveRecord;
  find(id: string): DriveRecord | null;
  imagePath(drive: DriveRecord): string;
  provision(spec: ProvisionSpec, fill: (tmpPath: string) => Promise<void>): Promise<DriveRecord>;
  replaceImage(id: string, fill: (tmpPath: string) => Promise<void>): Promise<DriveRecord>;
}

export interface BackupDeps {
  config: Config;
  dataDir: string;
  log: Logger;
  bus: EventBus;
  clock: Clock;
  store: Store;
  events: EventsRepo;
  drives: BackupDrives;
  /** Null when running offline (CLI without the daemon): then an attached drive is refused. */
  attachments: AttachmentControl | null;
}

export type CreateBackup = (deps: BackupDeps) => { backup: BackupControl; extension: Extension };
