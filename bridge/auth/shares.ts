import type { Store } from '../store/database.ts';

/** Which users a drive is shared with (besides its owner). Rows go with the user (ON DELETE CASCADE). */
export class DriveShares {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  isShared(drive: string, userId: string): boolean {
    return this.#store.db.prepare('SELECT 1 FROM drive_shares WHERE drive = ? AND user_id = ?').get(drive, userId) !== undefined;
  }

  /** Drives shared with the user. */
  of(userId: string): Set<string> {
    const rows = this.#store.db.prepare('SELECT drive FROM drive_shares WHERE user_id = ?').all(userId) as Array<{ drive: string }>;
    return new Set(rows.map((r) => r.drive));
  }

  userIds(drive: string): string[] {
    const rows = this.#store.db.prepare('SELECT user_id FROM drive_shares WHERE drive = ?').all(drive) as Array<{ user_id: string }>;
    return rows.map((r) => r.user_id);
  }

  replace(drive: string, userIds: readonly string[]): void {
    this.#store.db.transaction(() => {
      this.#store.db.prepare('DELETE FROM drive_shares WHERE drive = ?').run(drive);
      const insert = this.#store.db.prepare('INSERT OR IGNORE INTO drive_shares (drive, user_id) VALUES (?, ?)');
      for (const id of userIds) insert.run(drive, id);
    })();
  }
}
