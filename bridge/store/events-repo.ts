import { z } from 'zod';
import type { EventBus } from '../core/event-bus.ts';
import type { Store } from './database.ts';

export const EventKind = z.enum(['audit', 'state']);

/** One row of the append-only history: audit (who did what, from where) and state changes. */
export const HistoryEvent = z.object({
  id: z.number().int(),
  time: z.string(),
  kind: EventKind,
  action: z.string(),
  actor: z.string(),
  drive: z.string().nullable(),
  source: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
});
export type HistoryEvent = z.infer<typeof HistoryEvent>;

export type NewHistoryEvent = Omit<HistoryEvent, 'id' | 'time' | 'details' | 'source' | 'drive'> & {
  drive?: string | null;
  source?: string | null;
  details?: Record<string, unknown>;
};

const MIGRATIONS = [
  `CREATE TABLE events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     time TEXT NOT NULL,
     kind TEXT NOT NULL,
     action TEXT NOT NULL,
     actor TEXT NOT NULL,
     drive TEXT,
     source TEXT,
     details TEXT NOT NULL DEFAULT '{}');
   CREATE INDEX events_drive ON events(drive, id);`,
];

interface Row {
  id: number;
  time: string;
  kind: 'audit' | 'state';
  action: string;
  actor: string;
  drive: string | null;
  source: string | null;
  details: string;
}

export class EventsRepo {
  readonly #store: Store;
  readonly #bus: EventBus | null;

  constructor(store: Store, bus: EventBus | null) {
    this.#store = store;
    this.#bus = bus;
    store.migrate('events', MIGRATIONS);
  }

  append(event: NewHistoryEvent): HistoryEvent {
    const time = new Date().toISOString();
    const details = event.details ?? {};
    const info = this.#store.db
      .prepare('INSERT INTO events (time, kind, action, actor, drive, source, details) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(time, event.kind, event.action, event.actor, event.drive ?? null, event.source ?? null, JSON.stringify(details));
    const id = Number(info.lastInsertRowid);
    if (event.kind === 'audit') this.#bus?.emit('audit', { id, action: event.action, actor: event.actor, drive: event.drive ?? null });
    return { id, time, kind: event.kind, action: event.action, actor: event.actor, drive: event.drive ?? null, source: event.source ?? null, details };
  }

  /** Events after `since` (an event id), oldest first; `drives` limits to those drives plus bridge-wide events. */
  list(options: { since?: number; limit?: number; drives?: readonly string[] } = {}): HistoryEvent[] {
    const params: unknown[] = [options.since ?? 0];
    let sql = 'SELECT * FROM events WHERE id > ?';
    if (options.drives) {
      sql += ` AND (drive IS NULL OR drive IN (${options.drives.map(() => '?').join(',') || "''"}))`;
      params.push(...options.drives);
    }
    sql += ' ORDER BY id LIMIT ?';
    params.push(Math.min(options.limit ?? 500, 5000));
    const rows = this.#store.db.prepare(sql).all(...params) as Row[];
    return rows.map((r) => ({ ...r, details: JSON.parse(r.details) as Record<string, unknown> }));
  }
}
