import { z } from 'zod';
import { PiDriveError } from '../../core/errors.ts';
import { roleAllows } from '../../auth/roles.ts';
import { wholeBridgeAdmin, type Principal } from '../../auth/principal.ts';
import {
  AddRepositoryInput,
  Job,
  JobState,
  JobType,
  KeepPolicy,
  Repository,
  RepositoryName,
  RestoreTarget,
  Schedule,
  ScheduleInput,
  Snapshot,
  SnapshotId,
  type BackupControl,
} from '../../backup/types.ts';
import { DriveId } from '../../drives/model.ts';
import { defineRoute, type AnyRoute, type ApiDeps } from '../route.ts';
import { visibleDrive } from '../drive-access.ts';
import { DriveParams } from './params.ts';

const Id = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'must be an id as listed by the API');
const JobParams = z.object({ id: Id }).strict();
const ScheduleParams = z.object({ id: Id }).strict();
const RepositoryParams = z.object({ name: RepositoryName }).strict();
const SnapshotParams = z.object({ id: DriveId, snap: z.union([SnapshotId, z.literal('latest')]) }).strict();
const RepositoryChoice = z.object({ repository: RepositoryName.optional() }).strict();
const RestoreInput = z.object({ repository: RepositoryName.optional(), target: RestoreTarget }).strict();
const JobsQuery = z
  .object({ drive: DriveId.optional(), state: JobState.optional(), type: JobType.optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) })
  .strict();
const VerifyInput = z.object({ sample_percent: z.number().gt(0).max(100).optional() }).strict();
const PruneInput = z.object({ keep: KeepPolicy.optional() }).strict();
/** Only what is sent changes: no defaults here (a default timezone would silently reset it). */
const SchedulePatch = ScheduleInput.extend({ timezone: z.string().min(1) }).partial();

function backup(deps: ApiDeps): BackupControl {
  if (!deps.backup) throw new PiDriveError('unavailable', 'backups are not running in this bridge');
  return deps.backup;
}

/**
 * Jobs of drives the caller may not see are as absent as the drives. Repository-wide jobs (verify,
 * prune) name the snapshots of every drive, so only a whole-bridge admin sees them.
 */
function visibleJob(deps: ApiDeps, principal: Principal, job: Job): boolean {
  const drive = job.drive === null ? null : deps.ctx.drives.find(job.drive);
  return drive === null ? wholeBridgeAdmin(principal) : deps.auth.mayAccess(principal, drive);
}

function jobOr404(deps: ApiDeps, principal: Principal, id: string): Job {
  let job: Job | null = null;
  try {
    job = backup(deps).getJob(id);
  } catch (err) {
    if (!(err instanceof PiDriveError && err.code === 'not_found')) throw err;
  }
  if (!job || !visibleJob(deps, principal, job)) throw new PiDriveError('not_found', `no job "${id}"`, { id: 'unknown job' });
  return job;
}

/**
 * Snapshots outlive their drive: an unlimited admin may list and restore those of a removed drive
 * (the way back from an accidental delete); everyone else needs a drive they can see.
 */
function snapshotSource(deps: ApiDeps, principal: Principal, id: string): void {
  if (deps.ctx.drives.find(id) === null && wholeBridgeAdmin(principal)) return;
  visibleDrive(deps, principal, id);
}

/** A schedule as a non-admin sees it: only the drives it may see, or not at all. */
function visibleSchedules(deps: ApiDeps, principal: Principal, schedules: Schedule[]): Schedule[] {
  if (wholeBridgeAdmin(principal)) return schedules;
  const visible = new Set(deps.auth.visible(principal, deps.ctx.drives.list()).map((d) => d.id));
  return schedules.map((s) => ({ ...s, drives: s.drives.filter((d) => visible.has(d)) })).filter((s) => s.drives.length > 0);
}

export const backupRoutes: AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/repositories',
    summary: 'Backup repositories (never their credentials)',
    access: 'viewer',
    response: z.array(Repository),
    handler: ({ deps }) => backup(deps).listRepositories(),
  }),
  defineRoute({
    method: 'post',
    path: '/repositories',
    summary: 'Add a repository (file:///path or s3://bucket/prefix?endpoint=...&region=...), created when empty',
    access: 'admin',
    body: AddRepositoryInput,
    response: Repository,
    status: 201,
    audit: { action: 'repository.add', by: 'service' },
    handler: ({ deps, body, who }) => backup(deps).addRepository(body, who.actor),
  }),
  ...(['verify', 'prune'] as const).map((kind) =>
    defineRoute({
      method: 'post',
      path: `/repositories/{name}/${kind}`,
      summary: kind === 'verify' ? 'Start checking a repository (all or a sample of its chunks)' : 'Start applying the keep policy and collecting unreferenced chunks',
      access: 'admin',
      params: RepositoryParams,
      body: kind === 'verify' ? VerifyInput : PruneInput,
      response: Job,
      status: 202,
      audit: { action: `backup.${kind}`, by: 'service' },
      handler: ({ deps, params, body, who }) => {
        const b = body as z.infer<typeof VerifyInput> & z.infer<typeof PruneInput>;
        return kind === 'verify'
          ? backup(deps).startVerify({ repository: params.name, ...(b.sample_percent !== undefined && { samplePercent: b.sample_percent }), actor: who.actor })
          : backup(deps).startPrune({ repository: params.name, ...(b.keep !== undefined && { keep: b.keep }), actor: who.actor });
      },
    }),
  ),
  defineRoute({
    method: 'post',
    path: '/drives/{id}/backups',
    summary: 'Start a backup of the drive (a job); one already queued is returned instead of a second',
    access: 'operator',
    params: DriveParams,
    driveParam: 'id',
    body: RepositoryChoice,
    response: Job,
    status: 202,
    audit: { action: 'backup.start', by: 'service' },
    handler: ({ deps, params, body, who }) => backup(deps).startBackup(params.id, { ...(body.repository && { repository: body.repository }), actor: who.actor }),
  }),
  defineRoute({
    method: 'get',
    path: '/drives/{id}/snapshots',
    summary: "The drive's snapshots, newest first",
    access: 'viewer',
    params: DriveParams,
    query: RepositoryChoice,
    response: z.array(Snapshot),
    handler({ deps, principal, params, query }) {
      snapshotSource(deps, principal, params.id);
      return backup(deps).listSnapshots(params.id, query.repository ? { repository: query.repository } : {});
    },
  }),
  defineRoute({
    method: 'post',
    path: '/drives/{id}/snapshots/{snap}/restore',
    summary: 'Start a restore: into a new drive (operator; a user becomes its owner) or in place (admin)',
    access: 'operator',
    params: SnapshotParams,
    body: RestoreInput,
    response: Job,
    status: 202,
    audit: { action: 'backup.restore', by: 'service' },
    handler({ deps, params, body, principal, who }) {
      snapshotSource(deps, principal, params.id);
      const target = body.target;
      if (target.kind === 'in_place' && !roleAllows(principal.role, 'admin')) {
        throw new PiDriveError('forbidden', 'restoring in place needs the admin role; restore into a new drive instead', { 'target.kind': 'admin only' });
      }
      if (target.kind === 'new_drive' && principal.drives !== null && !principal.drives.includes(target.drive)) {
        throw new PiDriveError('forbidden', `token "${principal.name}" is limited to drives ${principal.drives.join(', ')}`, { 'target.drive': "outside the token's drives" });
      }
      return backup(deps).startRestore(params.id, params.snap, { ...(body.repository && { repository: body.repository }), target, actor: who.actor, owner: principal.userId });
    },
  }),
  defineRoute({
    method: 'get',
    path: '/jobs',
    summary: 'Long operations (backups, restores, verify, prune), newest first',
    access: 'viewer',
    query: JobsQuery,
    response: z.array(Job),
    handler: ({ deps, principal, query }) =>
      backup(deps)
        .listJobs({ ...query })
        .filter((j) => visibleJob(deps, principal, j)),
  }),
  defineRoute({
    method: 'get',
    path: '/jobs/{id}',
    summary: 'One job with its progress and result',
    access: 'viewer',
    params: JobParams,
    response: Job,
    handler: ({ deps, principal, params }) => jobOr404(deps, principal, params.id),
  }),
  defineRoute({
    method: 'post',
    path: '/jobs/{id}/cancel',
    summary: 'Cancel a queued or running job',
    access: 'operator',
    params: JobParams,
    response: Job,
    audit: { action: 'job.cancel', by: 'service' },
    handler({ deps, principal, params, who }) {
      jobOr404(deps, principal, params.id);
      return backup(deps).cancelJob(params.id, who.actor);
    },
  }),
  defineRoute({
    method: 'get',
    path: '/schedules',
    summary: 'Backup schedules (from the configuration file and the API)',
    access: 'viewer',
    response: z.array(Schedule),
    handler: ({ deps, principal }) => visibleSchedules(deps, principal, backup(deps).listSchedules()),
  }),
  defineRoute({
    method: 'post',
    path: '/schedules',
    summary: 'Add a backup schedule',
    access: 'admin',
    body: ScheduleInput,
    response: Schedule,
    status: 201,
    audit: { action: 'schedule.add', by: 'service' },
    handler: ({ deps, body, who }) => backup(deps).addSchedule(body, who.actor),
  }),
  defineRoute({
    method: 'patch',
    path: '/schedules/{id}',
    summary: 'Change a schedule made through the API',
    access: 'admin',
    params: ScheduleParams,
    body: SchedulePatch,
    response: Schedule,
    audit: { action: 'schedule.update', by: 'service' },
    handler: ({ deps, params, body, who }) => backup(deps).updateSchedule(params.id, body, who.actor),
  }),
  defineRoute({
    method: 'delete',
    path: '/schedules/{id}',
    summary: 'Remove a schedule made through the API',
    access: 'admin',
    params: ScheduleParams,
    audit: { action: 'schedule.remove', by: 'service' },
    handler: ({ deps, params, who }) => backup(deps).removeSchedule(params.id, who.actor),
  }),
];
