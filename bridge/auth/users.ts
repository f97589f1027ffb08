import crypto from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { PiDriveError } from '../core/errors.ts';
import type { Store } from '../store/database.ts';
import type { Role, User } from './model.ts';

interface UserRow {
  id: string;
  name: string;
  role: Role;
  password_hash: string;
  created_at: string;
  updated_at: string;
}

export interface StoredUser extends User {
  id: string;
  password_hash: string;
}

/** The users table. Keeps the rule that at least one admin remains once there has been one. */
export class UserStore {
  readonly #store: Store;
  readonly #clock: Clock;

  constructor(store: Store, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  list(): User[] {
    const rows = this.#store.db.prepare('SELECT * FROM users ORDER BY name').all() as UserRow[];
    return rows.map(publicUser);
  }

  find(name: string): StoredUser | null {
    return (this.#store.db.prepare('SELECT * FROM users WHERE name = ?').get(name) as UserRow | undefined) ?? null;
  }

  byId(id: string): StoredUser | null {
    return (this.#store.db.prepare('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined) ?? null;
  }

  get(name: string): StoredUser {
    const user = this.find(name);
    if (!user) throw new PiDriveError('not_found', `no user named "${name}"`, { name: 'unknown user' });
    return user;
  }

  hasAdmin(): boolean {
    return this.#store.db.prepare("SELECT 1 FROM users WHERE role = 'admin' LIMIT 1").get() !== undefined;
  }

  /** Inserts in one transaction with the admin check, so two racing "first users" cannot both skip the rule. */
  insert(name: string, role: Role | undefined, passwordHash: string): User {
    const now = this.#clock.now().toISOString();
    return this.#store.db.transaction((): User => {
      const firstAdmin = !this.hasAdmin();
      if (firstAdmin && role !== undefined && role !== 'admin') {
        throw new PiDriveError('bad_request', 'the first user must be an admin', { role: 'the first user must be an admin' });
      }
      if (this.find(name)) throw new PiDriveError('conflict', `user "${name}" already exists`, { name: 'already exists' });
      const row: UserRow = {
        id: crypto.randomUUID(),
        name,
        role: role ?? (firstAdmin ? 'admin' : 'viewer'),
        password_hash: passwordHash,
        created_at: now,
        updated_at: now,
      };
      this.#store.db
        .prepare('INSERT INTO users (id, name, role, password_hash, created_at, updated_at) VALUES (@id, @name, @role, @password_hash, @created_at, @updated_at)')
        .run(row);
      return publicUser(row);
    })();
  }

  remove(name: string): StoredUser {
    return this.#store.db.transaction((): StoredUser => {
      const user = this.get(name);
      if (user.role === 'admin') this.#requireAnotherAdmin(user.id, 'remove');
      this.#store.db.prepare('DELETE FROM users WHERE id = ?').run(user.id);
      return user;
    })();
  }

  setRole(name: string, role: Role): User {
    return this.#store.db.transaction((): User => {
      const user = this.get(name);
      if (user.role === 'admin' && role !== 'admin') this.#requireAnotherAdmin(user.id, 'demote');
      this.#store.db.prepare('UPDATE users SET role = ?, updated_at = ? WHERE id = ?').run(role, this.#clock.now().toISOString(), user.id);
      return publicUser(this.get(name));
    })();
  }

  setPasswordHash(name: string, passwordHash: string): User {
    const user = this.get(name);
    this.#store.db.prepare('UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?').run(passwordHash, this.#clock.now().toISOString(), user.id);
    return publicUser(this.get(name));
  }

  #requireAnotherAdmin(userId: string, verb: string): void {
    const others = this.#store.db.prepare("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND id != ?").get(userId) as { n: number };
    if (others.n === 0) throw new PiDriveError('conflict', `cannot ${verb} the last admin; make another user admin first`, { name: 'the last admin' });
  }
}

function publicUser(row: UserRow): User {
  return { name: row.name, role: row.role, created_at: row.created_at, updated_at: row.updated_at };
}
