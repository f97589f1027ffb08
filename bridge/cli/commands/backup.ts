import { BackupService } from '../../backup/service.ts';
import type { Job, KeepPolicy, PruneReport, RestoreTarget, Snapshot, VerifyReport } from '../../backup/types.ts';
import { systemClock } from '../../core/clock.ts';
import { PiDriveError, type ErrorCode } from '../../core/errors.ts';
import { EventBus } from '../../core/event-bus.ts';
import { formatBytes } from '../../pools/registry.ts';
import type { CommandSpec, GlobalOptions, OptionValues } from '../command.ts';
import { viaBridgeOrOffline, type OfflineContext } from '../offline.ts';
import { progressReporter } from '../progress.ts';

const ACTOR = 'local';
const POLL_MS = 500;

type Request = <R>(method: string, path: string, body?: unknown) => Promise<R>;

/** One bar per phase; waiting phases (no byte count) are said once. */
function jobProgress(label: string, json: boolean): { show(job: Job): void; finish(): void } {
  let phase = '';
  let bar: ReturnType<typeof progressReporter> | null = null;
  return {
    show(job) {
      const p = job.progress;
      if (p.phase !== phase) {
        bar?.finish();
        bar = null;
        phase = p.phase;
        if (p.bytes_total === 0 && job.state === 'running' && phase !== 'queued') {
          if (json) process.stderr.write(JSON.stringify({ progress: label, phase }) + '\n');
          else if (process.stderr.isTTY) process.stderr.write(`${label}: ${phase}\n`);
        }
      }
      if (p.bytes_total > 0 && job.state === 'running') {
        bar ??= progressReporter(`${label} ${phase}`, json);
        bar.update(p.bytes_done, p.bytes_total);
      }
    },
    finish() {
      bar?.finish();
    },
  };
}

/**
 * Starts a job through the running bridge (and follows it by polling) or runs it right here
 * offline (Ctrl-C cancels it); returns its result or throws its error.
 */
async function runJob(
  globals: GlobalOptions,
  label: string,
  viaBridge: (req: Request) => Promise<Job>,
  offline: (service: BackupService) => Job,
): Promise<Record<string, unknown>> {
  const progress = jobProgress(label, globals.json);
  let finished: Job;
  try {
    finished = await viaBridgeOrOffline(
      globals,
      async (req) => {
        let job = await viaBridge(req);
        while (job.state === 'queued' || job.state === 'running') {
          progress.show(job);
          await new Promise((r) => setTimeout(r, POLL_MS));
          job = await req<Job>('GET', `/jobs/${encodeURIComponent(job.id)}`);
        }
        return job;
      },
      (ctx) =>
        withBackupService(ctx, async (service, bus) => {
          const job = offline(service);
          bus.on(progress, 'job', ({ job: j }) => void (j.id === job.id && progress.show(j as Job)));
          const abort = new AbortController();
          const onInt = (): void => abort.abort(new PiDriveError('conflict', 'canceled'));
          process.once('SIGINT', onInt);
          try {
            return await service.jobs.runNow(job.id, abort.signal);
          } finally {
            process.off('SIGINT', onInt);
          }
        }),
    );
  } finally {
    progress.finish();
  }
  if (finished.state === 'succeeded') return finished.result ?? {};
  if (finished.result) {
    if (globals.json) process.stderr.write(JSON.stringify({ result: finished.result }) + '\n');
    else if (finished.type === 'verify') process.stderr.write(describeDamage(finished.result as VerifyReport) + '\n');
  }
  if (finished.state === 'canceled') throw new PiDriveError('conflict', `${label} was canceled`);
  throw new PiDriveError((finished.error?.code as ErrorCode) ?? 'internal', finished.error?.message ?? `${label} failed`);
}

/** The backup service on an offline data directory; the daemon's queue is left alone (jobs run with runNow). */
export async function withBackupService<T>(ctx: OfflineContext, fn: (service: BackupService, bus: EventBus) => Promise<T>): Promise<T> {
  const bus = new EventBus(ctx.log);
  const service = new BackupService({ config: ctx.config, dataDir: ctx.dataDir, log: ctx.log, bus, clock: systemClock, store: ctx.store, events: ctx.events, drives: ctx.drives, attachments: null });
  service.jobs.recover();
  try {
    return await fn(service, bus);
  } finally {
    await service.registry.close();
  }
}

function describeDamage(r: VerifyReport): string {
  const lines = r.corrupt.map((c) => `chunk ${c.chunk} ${c.problem.replace('_', ' ')}: affects ${c.snapshots.map((s) => `${s.drive}/${s.snapshot}`).join(', ') || 'no snapshot'}`);
  for (const d of r.damaged_snapshots) lines.push(`snapshot ${d.drive}/${d.snapshot}: ${d.problem}`);
  return lines.join('\n');
}

const str = (o: OptionValues, k: string): string | undefined => o[k] as string | undefined;

function count(o: OptionValues, key: string): number | undefined {
  const v = str(o, key);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new PiDriveError('bad_request', `--${key} must be a whole number`, { [key]: 'not a whole number' });
  return Number(v);
}

function keepFrom(o: OptionValues): KeepPolicy | undefined {
  const keep: KeepPolicy = {};
  for (const k of ['last', 'hourly', 'daily', 'weekly', 'monthly'] as const) {
    const n = count(o, `keep-${k}`);
    if (n !== undefined) keep[k] = n;
  }
  return Object.keys(keep).length ? keep : undefined;
}

function snapshotTable(list: Snapshot[]): string {
  if (list.length === 0) return 'no snapshots';
  const rows = list.map((s) => [s.id, s.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'), formatBytes(s.data_bytes), formatBytes(s.new_bytes), String(s.changed_blocks), s.suspicious_change ? 'SUSPICIOUS' : '']);
  const head = ['ID', 'TIME', 'DATA', 'NEW', 'CHANGED', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

const enc = encodeURIComponent;
const driveRepoOption = {
  options: { repo: { type: 'string' } },
  optionHelp: { repo: 'R          repository (default: the schedule\'s, or the only one)' },
} satisfies Pick<CommandSpec, 'options' | 'optionHelp'>;

export const commands: CommandSpec[] = [
  {
    name: 'backup run',
    summary: 'back up a drive now (detached, or attached on an XFS/btrfs pool while the host is idle)',
    args: ['ID'],
    ...driveRepoOption,
    async run({ args, options, globals }) {
      const id = args.ID!;
      const repository = str(options, 'repo');
      return runJob(
        globals,
        `backup ${id}`,
        (req) => req<Job>('POST', `/drives/${enc(id)}/backups`, repository ? { repository } : {}),
        (s) => s.startBackup(id, { ...(repository ? { repository } : {}), actor: ACTOR }),
      );
    },
    human: (r) => {
      const s = r as unknown as Snapshot;
      const lines = [
        `snapshot ${s.id} of ${s.drive} in ${s.repository}: ${formatBytes(s.data_bytes)} of data, ${s.changed_blocks} changed block(s), ${formatBytes(s.new_bytes)} new in ${(s.duration_ms / 1000).toFixed(1)} s`,
      ];
      if (s.suspicious_change) lines.push(`WARNING: ${Math.round(s.incompressible_ratio * 100)} % of the changed blocks do not compress (what encryption by ransomware looks like); check the drive`);
      return lines.join('\n');
    },
  },
  {
    name: 'backup list',
    summary: "list a drive's snapshots, newest first",
    args: ['ID'],
    ...driveRepoOption,
    async run({ args, options, globals }) {
      const id = args.ID!;
      const repository = str(options, 'repo');
      return viaBridgeOrOffline(
        globals,
        (req) => req<Snapshot[]>('GET', `/drives/${enc(id)}/snapshots${repository ? `?repository=${enc(repository)}` : ''}`),
        (ctx) => withBackupService(ctx, (s) => s.listSnapshots(id, repository ? { repository } : {})),
      );
    },
    human: (r) => snapshotTable(r as Snapshot[]),
  },
  {
    name: 'backup restore',
    summary: 'restore a snapshot (an id or "latest") into a new drive (--to), or in place when detached',
    args: ['ID', 'SNAPSHOT'],
    options: { to: { type: 'string' }, pool: { type: 'string' }, repo: { type: 'string' } },
    optionHelp: {
      to: 'NEW_ID     restore into a new drive with this id (default: in place, replacing the drive\'s image)',
      pool: 'P          pool of the new drive (default: the source drive\'s)',
      repo: 'R          repository',
    },
    async run({ args, options, globals }) {
      const id = args.ID!;
      const snapshot = args.SNAPSHOT!;
      const repository = str(options, 'repo');
      const to = str(options, 'to');
      const pool = str(options, 'pool');
      if (pool && !to) throw new PiDriveError('bad_request', '--pool only applies with --to NEW_ID', { pool: 'needs --to' });
      const target = (to ? { kind: 'new_drive', drive: to, ...(pool ? { pool } : {}) } : { kind: 'in_place' }) as RestoreTarget;
      return runJob(
        globals,
        `restore ${id}`,
        (req) => req<Job>('POST', `/drives/${enc(id)}/snapshots/${enc(snapshot)}/restore`, { ...(repository ? { repository } : {}), target }),
        (s) => s.startRestore(id, snapshot, { ...(repository ? { repository } : {}), target, actor: ACTOR }),
      );
    },
    human: (r) => {
      const x = r as { drive: string; snapshot: string; in_place: boolean };
      return x.in_place ? `drive ${x.drive} restored in place from snapshot ${x.snapshot}` : `snapshot ${x.snapshot} restored into the new drive ${x.drive}`;
    },
  },
  {
    name: 'backup verify',
    summary: 're-read and re-hash the chunks every snapshot needs (or a --sample percentage)',
    args: [],
    options: { repo: { type: 'string' }, sample: { type: 'string' } },
    optionHelp: { repo: 'R          repository', sample: 'PCT        check a random PCT % of the chunks (missing ones are always found)' },
    async run({ options, globals }) {
      const repository = str(options, 'repo');
      const sample = str(options, 'sample');
      const samplePercent = sample === undefined ? undefined : Number(sample.replace(/%$/, ''));
      if (samplePercent !== undefined && !(samplePercent > 0 && samplePercent <= 100)) {
        throw new PiDriveError('bad_request', '--sample must be a percentage above 0 and at most 100', { sample: 'out of range' });
      }
      return runJob(
        globals,
        'verify',
        async (req) => {
          const name = repository ?? (await defaultRepository(req));
          return req<Job>('POST', `/repositories/${enc(name)}/verify`, samplePercent !== undefined ? { sample_percent: samplePercent } : {});
        },
        (s) => s.startVerify({ ...(repository ? { repository } : {}), ...(samplePercent !== undefined ? { samplePercent } : {}), actor: ACTOR }),
      );
    },
    human: (r) => {
      const v = r as unknown as VerifyReport;
      return `repository ok: ${v.snapshots} snapshot(s), ${v.chunks_checked} of ${v.chunks_total} chunk(s) re-hashed (${formatBytes(v.bytes_checked)})`;
    },
  },
  {
    name: 'backup prune',
    summary: 'forget snapshots by the keep policy (flags, or each schedule\'s), then delete unreferenced chunks',
    args: [],
    options: {
      repo: { type: 'string' },
      'keep-last': { type: 'string' },
      'keep-hourly': { type: 'string' },
      'keep-daily': { type: 'string' },
      'keep-weekly': { type: 'string' },
      'keep-monthly': { type: 'string' },
    },
    optionHelp: {
      repo: 'R          repository',
      'keep-last': 'N          keep the newest N snapshots of each drive',
      'keep-hourly': 'N        keep the newest snapshot of each of the last N hours',
      'keep-daily': 'N         ... days',
      'keep-weekly': 'N        ... ISO weeks',
      'keep-monthly': 'N       ... months',
    },
    async run({ options, globals }) {
      const repository = str(options, 'repo');
      const keep = keepFrom(options);
      return runJob(
        globals,
        'prune',
        async (req) => {
          const name = repository ?? (await defaultRepository(req));
          return req<Job>('POST', `/repositories/${enc(name)}/prune`, keep ? { keep } : {});
        },
        (s) => s.startPrune({ ...(repository ? { repository } : {}), ...(keep ? { keep } : {}), actor: ACTOR }),
      );
    },
    human: (r) => {
      const p = r as unknown as PruneReport;
      return `forgot ${p.removed_snapshots.length} snapshot(s), kept ${p.kept_snapshots}; deleted ${p.removed_chunks} chunk(s) (${formatBytes(p.removed_bytes)}); ${p.grace_chunks} unreferenced chunk(s) kept for the grace period`;
    },
  },
];

/** Through the bridge, a repository-wide command without --repo works when there is exactly one. */
async function defaultRepository(req: Request): Promise<string> {
  const repos = await req<Array<{ name: string }>>('GET', '/repositories');
  if (repos.length === 1) return repos[0]!.name;
  throw new PiDriveError('bad_request', repos.length === 0 ? 'no backup repository yet; add one with "pidrive repo add NAME URL"' : `several repositories exist (${repos.map((r) => r.name).join(', ')}); name one with --repo`, {
    repo: 'required',
  });
}
