import crypto from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { PiDriveError } from '../core/errors.ts';
import type { Store } from '../store/database.ts';
import { newSecret, secretHash } from './secrets.ts';

interface SessionRow {
  hash: string;
  user_id: string;
  csrf: string;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
}

export interface SessionPolicy {
  idleMs: number;
  absoluteMs: number;
}

/** Refreshing last_seen_at at most this often keeps reads from becoming writes. */
const TOUCH_RESOLUTION_MS = 30_000;

/**
 * Browser sessions: the cookie holds a random secret, the table its hash. Each session carries
 * its own CSRF token; it ends on logout, after the idle time without requests, or at the absolute expiry.
 */
export class SessionStore {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #policy: SessionPolicy;

  constructor(store: Store, clock: Clock, policy: SessionPolicy) {
    this.#store = store;
    this.#clock = clock;
    this.#policy = policy;
  }

  open(userId: string): { secret: string; csrf: string; expiresAt: string } {
    const now = this.#clock.now();
    const secret = newSecret('pds');
    const row: SessionRow = {
      hash: secretHash(secret),
      user_id: userId,
      csrf: crypto.randomBytes(24).toString('base64url'),
      created_at: now.toISOString(),
      last_seen_at: now.toISOString(),
      expires_at: new Date(now.getTime() + this.#policy.absoluteMs).toISOString(),
    };
    this.#purgeExpired(now);
    this.#store.db
      .prepare('INSERT INTO sessions (hash, user_id, csrf, created_at, last_seen_at, expires_at) VALUES (@hash, @user_id, @csrf, @created_at, @last_seen_at, @expires_at)')
      .run(row);
    return { secret, csrf: row.csrf, expiresAt: row.expires_at };
  }

  /**
   * The live session behind a cookie secret; an expired one is deleted and refused. `touch: false`
   * checks without counting as activity (a WebSocket's periodic re-check is not the user).
   */
  resume(secret: string, touch = true): { hash: string; userId: string; csrf: string } {
    const hash = secretHash(secret);
    const row = this.#store.db.prepare('SELECT * FROM sessions WHERE hash = ?').get(hash) as SessionRow | undefined;
    if (!row) throw new PiDriveError('unauthorized', 'not logged in (no such session)');
    const now = this.#clock.now().getTime();
    const idleEnd = Date.parse(row.last_seen_at) + this.#policy.idleMs;
    if (now >= Date.parse(row.expires_at) || now >= idleEnd) {
      this.close(hash);
      throw new PiDriveError('unauthorized', 'the session expired; log in again');
    }
    if (touch && now - Date.parse(row.last_seen_at) >= TOUCH_RESOLUTION_MS) {
      this.#store.db.prepare('UPDATE sessions SET last_seen_at = ? WHERE hash = ?').run(new Date(now).toISOString(), hash);
    }
    return { hash, userId: row.user_id, csrf: row.csrf };
  }

  close(hash: string): void {
    this.#store.db.prepare('DELETE FROM sessions WHERE hash = ?').run(hash);
  }

  /** After a password change every other session of the user ends. */
  closeAllOf(userId: string, except?: string): void {
    this.#store.db.prepare('DELETE FROM sessions WHERE user_id = ? AND hash != ?').run(userId, except ?? '');
  }

  #purgeExpired(now: Date): void {
    const idleCutoff = new Date(now.getTime() - this.#policy.idleMs).toISOString();
    this.#store.db.prepare('DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?').run(now.toISOString(), idleCutoff);
  }
}
