import crypto from 'node:crypto';
import { CronExpressionParser } from 'cron-parser';
import type { Clock } from '../core/clock.ts';
import { fromZodIssues, PiDriveError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Config } from '../config/schema.ts';
import type { Store } from '../store/database.ts';
import { KeepPolicy, ScheduleInput, type Schedule } from './types.ts';

interface Row {
  id: string;
  drives: string;
  cron: string;
  timezone: string;
  repository: string;
  keep: string | null;
  created_at: string;
}

type Definition = Omit<Schedule, 'next_run' | 'last_run'>;

/** Longest single timer; longer waits are re-planned (timers cap near 24.8 days, clocks drift). */
const MAX_TIMER_MS = 3_600_000;

export function nextRun(cron: string, timezone: string, after: Date): Date {
  return CronExpressionParser.parse(cron, { currentDate: after, tz: timezone }).next().toDate();
}

/** Names the bad field: cron syntax, unknown time zone. */
export function checkCron(cron: string, timezone: string, prefix = ''): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw new PiDriveError('bad_request', `${prefix}timezone: "${timezone}" is not an IANA time zone (like Europe/Berlin)`, { [`${prefix}timezone`]: 'unknown time zone' });
  }
  try {
    nextRun(cron, timezone, new Date());
  } catch (err) {
    throw new PiDriveError('bad_request', `${prefix}cron: "${cron}" is not a cron expression: ${(err as Error).message}`, { [`${prefix}cron`]: 'invalid cron expression' });
  }
}

/**
 * Cron schedules from the configuration file (read-only, ids config-<hash>) and from the
 * API (kept in the database). Each schedule remembers its last run; at start a run missed while
 * the bridge was down is run once, not once per missed slot.
 */
export class Scheduler {
  readonly #store: Store;
  readonly #config: Config;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #run: (s: Definition) => void;
  #timer: { cancel(): void } | null = null;
  #running = false;

  constructor(deps: { store: Store; config: Config; clock: Clock; log: Logger; run: (s: Definition) => void }) {
    this.#store = deps.store;
    this.#config = deps.config;
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.#run = deps.run;
  }

  definitions(): Definition[] {
    // Named by content, so editing the file never hands one schedule's last run to another.
    const fromConfig: Definition[] = this.#config.schedules.map((s) => ({
      id: `config-${crypto.hash('sha256', JSON.stringify([s.drives, s.cron, s.timezone, s.repository])).slice(0, 8)}`,
      origin: 'config',
      drives: s.drives,
      cron: s.cron,
      timezone: s.timezone,
      repository: s.repository,
      keep: s.keep ?? null,
    }));
    const rows = this.#store.db.prepare('SELECT * FROM backup_schedules ORDER BY created_at, id').all() as Row[];
    return [
      ...fromConfig,
      ...rows.map((r) => ({
        id: r.id,
        origin: 'api' as const,
        drives: JSON.parse(r.drives) as string[],
        cron: r.cron,
        timezone: r.timezone,
        repository: r.repository,
        keep: r.keep ? KeepPolicy.parse(JSON.parse(r.keep)) : null,
      })),
    ];
  }

  list(): Schedule[] {
    return this.definitions().map((d) => {
      const last = this.#lastRun(d.id);
      let next: string | null = null;
      try {
        next = nextRun(d.cron, d.timezone, this.#clock.now()).toISOString();
      } catch {
        next = null;
      }
      return { ...d, next_run: next, last_run: last };
    });
  }

  get(id: string): Schedule {
    const s = this.list().find((x) => x.id === id);
    if (!s) throw new PiDriveError('not_found', `no schedule "${id}"`, { id: 'unknown schedule' });
    return s;
  }

  /** Validates the configuration's schedules: a bad cron or time zone stops the start (exit 2). */
  checkConfig(): void {
    this.#config.schedules.forEach((s, i) => {
      try {
        checkCron(s.cron, s.timezone, `schedules.${i}.`);
      } catch (err) {
        const e = err as PiDriveError;
        throw new PiDriveError('invalid_config', e.message, e.fields);
      }
    });
  }

  add(input: ScheduleInput, validate: (s: ScheduleInput) => void): Schedule {
    const parsed = ScheduleInput.safeParse(input);
    if (!parsed.success) throw fromZodIssues('bad_request', parsed.error.issues);
    const s = parsed.data;
    checkCron(s.cron, s.timezone);
    validate(s);
    const id = `s-${crypto.randomBytes(4).toString('hex')}`;
    const now = this.#clock.now().toISOString();
    this.#store.db.transaction(() => {
      this.#store.db
        .prepare('INSERT INTO backup_schedules (id, drives, cron, timezone, repository, keep, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(id, JSON.stringify(s.drives), s.cron, s.timezone, s.repository, s.keep ? JSON.stringify(s.keep) : null, now);
      // Counting from now: a new schedule does not fire for slots before it existed.
      this.#store.db.prepare('INSERT OR REPLACE INTO backup_schedule_runs (id, last_run) VALUES (?, ?)').run(id, now);
    })();
    this.#replan();
    return this.get(id);
  }

  update(id: string, patch: Partial<ScheduleInput>, validate: (s: ScheduleInput) => void): Schedule {
    const current = this.get(id);
    if (current.origin === 'config') throw new PiDriveError('conflict', `schedule "${id}" comes from the configuration file; change it there`, { id: 'from configuration' });
    const merged = {
      drives: current.drives,
      cron: current.cron,
      timezone: current.timezone,
      repository: current.repository,
      ...(current.keep ? { keep: current.keep } : {}),
      ...patch,
    };
    const parsed = ScheduleInput.safeParse(merged);
    if (!parsed.success) throw fromZodIssues('bad_request', parsed.error.issues);
    const s = parsed.data;
    checkCron(s.cron, s.timezone);
    validate(s);
    this.#store.db
      .prepare('UPDATE backup_schedules SET drives = ?, cron = ?, timezone = ?, repository = ?, keep = ? WHERE id = ?')
      .run(JSON.stringify(s.drives), s.cron, s.timezone, s.repository, s.keep ? JSON.stringify(s.keep) : null, id);
    this.#replan();
    return this.get(id);
  }

  remove(id: string): void {
    const current = this.get(id);
    if (current.origin === 'config') throw new PiDriveError('conflict', `schedule "${id}" comes from the configuration file; remove it there`, { id: 'from configuration' });
    this.#store.db.prepare('DELETE FROM backup_schedules WHERE id = ?').run(id);
    this.#store.db.prepare('DELETE FROM backup_schedule_runs WHERE id = ?').run(id);
    this.#replan();
  }

  start(): void {
    this.#running = true;
    this.#tick();
  }

  stop(): void {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = null;
  }

  #replan(): void {
    if (!this.#running) return;
    this.#timer?.cancel();
    this.#tick();
  }

  /** Runs every schedule whose next slot after its last run has come, then sleeps until the next slot. */
  #tick(): void {
    this.#timer = null;
    if (!this.#running) return;
    const now = this.#clock.now();
    let soonest = now.getTime() + MAX_TIMER_MS;
    for (const d of this.definitions()) {
      let last = this.#lastRun(d.id);
      if (last === null) {
        // First sight of a configured schedule: start counting now.
        last = now.toISOString();
        this.#setLastRun(d.id, last);
      }
      let due: Date;
      try {
        due = nextRun(d.cron, d.timezone, new Date(last));
      } catch (err) {
        this.#log.error('schedule cannot be evaluated', { schedule: d.id, err });
        continue;
      }
      if (due.getTime() <= now.getTime()) {
        this.#setLastRun(d.id, now.toISOString());
        this.#log.info('schedule due', { schedule: d.id, slot: due.toISOString(), drives: d.drives });
        try {
          this.#run(d);
        } catch (err) {
          this.#log.error('schedule run failed to start', { schedule: d.id, err });
        }
        due = nextRun(d.cron, d.timezone, now);
      }
      soonest = Math.min(soonest, due.getTime());
    }
    this.#timer = this.#clock.setTimeout(() => this.#tick(), Math.max(0, soonest - this.#clock.now().getTime()) + 5);
  }

  #lastRun(id: string): string | null {
    const row = this.#store.db.prepare('SELECT last_run FROM backup_schedule_runs WHERE id = ?').get(id) as { last_run: string } | undefined;
    return row?.last_run ?? null;
  }

  #setLastRun(id: string, time: string): void {
    this.#store.db.prepare('INSERT OR REPLACE INTO backup_schedule_runs (id, last_run) VALUES (?, ?)').run(id, time);
  }
}
