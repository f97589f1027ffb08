import crypto from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { PiDriveError } from '../core/errors.ts';
import type { EventBus } from '../core/event-bus.ts';
import type { Logger } from '../core/logger.ts';
import type { Store } from '../store/database.ts';
import type { Job, JobFilter, JobProgress, JobState, JobType } from './types.ts';

export interface JobContext {
  job: Job;
  signal: AbortSignal;
  progress(phase: string, done: number, total: number): void;
}

export type JobHandler = (ctx: JobContext) => Promise<Record<string, unknown>>;

export interface NewJob {
  type: JobType;
  drive: string | null;
  repository: string;
  actor: string;
  params: Record<string, unknown>;
}

interface Row {
  id: string;
  type: JobType;
  state: JobState;
  drive: string | null;
  repository: string;
  actor: string;
  params: string;
  progress: string;
  result: string | null;
  error: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

const FINISHED: readonly JobState[] = ['succeeded', 'failed', 'canceled'];
const KEEP_FINISHED = 1000;
const EMIT_MS = 500;
const PERSIST_MS = 2000;
const RATE_WINDOW_MS = 10_000;

const IDLE_PROGRESS: JobProgress = { phase: 'queued', bytes_done: 0, bytes_total: 0, percent: 0, rate_bps: 0, eta_s: null };

/**
 * Jobs run one at a time, oldest first, so a drive never has two jobs at once and backups never
 * fight over the cores. State lives in the database: after a crash a running job is marked failed
 * (its chunks are reused by the next run) and queued jobs run at the next start.
 */
export class JobRunner {
  readonly #store: Store;
  readonly #bus: EventBus;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #handlers: Record<JobType, JobHandler>;
  readonly #onChange: (job: Job) => void;
  readonly #waiters = new Map<string, Array<(job: Job) => void>>();
  #running: { id: string; abort: AbortController; done: Promise<void> } | null = null;
  #started = false;
  #stopping = false;

  constructor(deps: { store: Store; bus: EventBus; log: Logger; clock: Clock; handlers: Record<JobType, JobHandler>; onChange?: (job: Job) => void }) {
    this.#store = deps.store;
    this.#bus = deps.bus;
    this.#log = deps.log;
    this.#clock = deps.clock;
    this.#handlers = deps.handlers;
    this.#onChange = deps.onChange ?? (() => {});
  }

  /** At start: what was running when the process died cannot be resumed mid-way. */
  recover(): void {
    const rows = this.#store.db.prepare("SELECT * FROM backup_jobs WHERE state = 'running'").all() as Row[];
    for (const row of rows) {
      this.#finish(row.id, 'failed', null, { code: 'internal', message: 'interrupted: the bridge stopped while the job ran; run it again' });
    }
  }

  start(): void {
    this.#started = true;
    this.#stopping = false;
    this.#pump();
  }

  /** Stops the running job (it goes back to the queue and runs again at the next start). */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#started = false;
    const running = this.#running;
    if (running) {
      running.abort.abort(new PiDriveError('unavailable', 'the bridge is stopping'));
      await running.done;
    }
  }

  /**
   * Runs one queued job here and now, whatever else waits (an offline CLI command runs its own job
   * and leaves the daemon's queue alone). `signal` cancels it (Ctrl-C).
   */
  async runNow(id: string, signal?: AbortSignal): Promise<Job> {
    const job = this.get(id);
    if (job.state !== 'queued' || this.#running) throw new PiDriveError('conflict', `job "${id}" cannot run now (${job.state})`, { id: job.state });
    const abort = new AbortController();
    const onAbort = (): void => abort.abort(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = this.#run(job, abort);
    this.#running = { id, abort, done };
    try {
      await done;
    } finally {
      this.#running = null;
      signal?.removeEventListener('abort', onAbort);
    }
    return this.get(id);
  }

  enqueue(spec: NewJob): Job {
    if (spec.type === 'backup' && spec.drive) {
      const queued = this.list({ drive: spec.drive, state: 'queued', type: 'backup' }).find((j) => j.repository === spec.repository);
      if (queued) return queued;
    }
    const id = crypto.randomUUID();
    this.#store.db
      .prepare(
        `INSERT INTO backup_jobs (id, type, state, drive, repository, actor, params, progress, created_at)
         VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?)`,
      )
      .run(id, spec.type, spec.drive, spec.repository, spec.actor, JSON.stringify(spec.params), JSON.stringify(IDLE_PROGRESS), this.#now());
    const job = this.get(id);
    this.#changed(job);
    queueMicrotask(() => this.#pump());
    return job;
  }

  get(id: string): Job {
    const row = this.#store.db.prepare('SELECT * FROM backup_jobs WHERE id = ?').get(id) as Row | undefined;
    if (!row) throw new PiDriveError('not_found', `no job "${id}"`, { id: 'unknown job' });
    return fromRow(row);
  }

  /** Newest first. */
  list(filter: JobFilter = {}): Job[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.drive) {
      where.push('drive = ?');
      params.push(filter.drive);
    }
    if (filter.state) {
      where.push('state = ?');
      params.push(filter.state);
    }
    if (filter.type) {
      where.push('type = ?');
      params.push(filter.type);
    }
    const sql = `SELECT * FROM backup_jobs ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq DESC LIMIT ?`;
    params.push(Math.min(Math.max(filter.limit ?? 100, 1), KEEP_FINISHED));
    return (this.#store.db.prepare(sql).all(...params) as Row[]).map(fromRow);
  }

  cancel(id: string): Job {
    const job = this.get(id);
    if (FINISHED.includes(job.state)) throw new PiDriveError('conflict', `job "${id}" has already ${job.state === 'canceled' ? 'been canceled' : job.state}`, { id: job.state });
    if (job.state === 'queued') this.#finish(id, 'canceled', null, null);
    else if (this.#running?.id === id) this.#running.abort.abort(new PiDriveError('conflict', 'canceled'));
    return this.get(id);
  }

  wait(id: string): Promise<Job> {
    const job = this.get(id);
    if (FINISHED.includes(job.state)) return Promise.resolve(job);
    return new Promise((resolve) => this.#waiters.set(id, [...(this.#waiters.get(id) ?? []), resolve]));
  }

  #pump(): void {
    if (!this.#started || this.#stopping || this.#running) return;
    const row = this.#store.db.prepare("SELECT * FROM backup_jobs WHERE state = 'queued' ORDER BY seq LIMIT 1").get() as Row | undefined;
    if (!row) return;
    const abort = new AbortController();
    const done = this.#run(fromRow(row), abort).finally(() => {
      this.#running = null;
      this.#pump();
    });
    this.#running = { id: row.id, abort, done };
  }

  async #run(queued: Job, abort: AbortController): Promise<void> {
    this.#store.db.prepare("UPDATE backup_jobs SET state = 'running', started_at = ? WHERE id = ?").run(this.#now(), queued.id);
    const job = this.get(queued.id);
    this.#changed(job);
    const tracker = new ProgressTracker(this.#clock);
    let lastEmit = 0;
    let lastPersist = 0;
    const ctx: JobContext = {
      job,
      signal: abort.signal,
      progress: (phase, done, total) => {
        const progress = tracker.update(phase, done, total);
        const now = this.#clock.monotonicMs();
        if (now - lastPersist >= PERSIST_MS) {
          lastPersist = now;
          this.#store.db.prepare('UPDATE backup_jobs SET progress = ? WHERE id = ?').run(JSON.stringify(progress), job.id);
        }
        if (now - lastEmit >= EMIT_MS || done >= total) {
          lastEmit = now;
          this.#changed({ ...job, progress });
        }
      },
    };
    this.#log.info('job started', { job: job.id, type: job.type, drive: job.drive, repository: job.repository, actor: job.actor });
    try {
      const result = await this.#handlers[job.type](ctx);
      this.#store.db.prepare('UPDATE backup_jobs SET progress = ? WHERE id = ?').run(JSON.stringify(tracker.finished()), job.id);
      this.#finish(job.id, 'succeeded', result, null);
      this.#log.info('job succeeded', { job: job.id, type: job.type, drive: job.drive });
    } catch (err) {
      if (abort.signal.aborted && this.#stopping) {
        this.#store.db.prepare("UPDATE backup_jobs SET state = 'queued', started_at = NULL, progress = ? WHERE id = ?").run(JSON.stringify(IDLE_PROGRESS), job.id);
        this.#changed(this.get(job.id));
        this.#log.info('job interrupted by shutdown; queued again', { job: job.id });
      } else if (abort.signal.aborted) {
        this.#finish(job.id, 'canceled', null, null);
        this.#log.info('job canceled', { job: job.id });
      } else {
        const e = err instanceof PiDriveError ? err : null;
        const result = (err as { result?: Record<string, unknown> }).result ?? null;
        this.#finish(job.id, 'failed', result, { code: e?.code ?? 'internal', message: (err as Error).message || 'internal error' });
        this.#log.warn('job failed', { job: job.id, type: job.type, drive: job.drive, err });
      }
    }
  }

  #finish(id: string, state: JobState, result: Record<string, unknown> | null, error: Job['error']): void {
    this.#store.db
      .prepare('UPDATE backup_jobs SET state = ?, result = ?, error = ?, finished_at = ? WHERE id = ?')
      .run(state, result ? JSON.stringify(result) : null, error ? JSON.stringify(error) : null, this.#now(), id);
    this.#store.db
      .prepare(`DELETE FROM backup_jobs WHERE state IN ('succeeded','failed','canceled') AND seq <= (SELECT seq FROM backup_jobs ORDER BY seq DESC LIMIT 1 OFFSET ?)`)
      .run(KEEP_FINISHED);
    const job = this.get(id);
    this.#changed(job);
    for (const resolve of this.#waiters.get(id) ?? []) resolve(job);
    this.#waiters.delete(id);
  }

  #changed(job: Job): void {
    this.#bus.emit('job', { job });
    this.#onChange(job);
  }

  #now(): string {
    return this.#clock.now().toISOString();
  }
}

/** Rate over the last seconds, reset when the phase changes (done counts restart per phase). */
class ProgressTracker {
  readonly #clock: Clock;
  #samples: Array<{ t: number; done: number }> = [];
  #phase = '';
  #last: JobProgress = IDLE_PROGRESS;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  update(phase: string, done: number, total: number): JobProgress {
    const t = this.#clock.monotonicMs();
    if (phase !== this.#phase) {
      this.#phase = phase;
      this.#samples = [];
    }
    this.#samples.push({ t, done });
    while (this.#samples.length > 2 && t - this.#samples[0]!.t > RATE_WINDOW_MS) this.#samples.shift();
    const first = this.#samples[0]!;
    const rate = t > first.t ? Math.max(0, ((done - first.done) * 1000) / (t - first.t)) : 0;
    this.#last = {
      phase,
      bytes_done: Math.round(done),
      bytes_total: Math.round(total),
      percent: total > 0 ? Math.min(100, (done / total) * 100) : 0,
      rate_bps: rate,
      eta_s: rate > 0 ? Math.max(0, (total - done) / rate) : null,
    };
    return this.#last;
  }

  finished(): JobProgress {
    return { ...this.#last, phase: 'done', percent: 100, eta_s: 0 };
  }
}

function fromRow(row: Row): Job {
  return {
    id: row.id,
    type: row.type,
    state: row.state,
    drive: row.drive,
    repository: row.repository,
    actor: row.actor,
    params: JSON.parse(row.params) as Record<string, unknown>,
    progress: JSON.parse(row.progress) as JobProgress,
    result: row.result ? (JSON.parse(row.result) as Record<string, unknown>) : null,
    error: row.error ? (JSON.parse(row.error) as Job['error']) : null,
    created_at: row.created_at,
    started_at: row.started_at,
    finished_at: row.finished_at,
  };
}
