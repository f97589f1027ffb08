import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { PiDriveError } from '../core/errors.ts';

export type Db = Database.Database;

/**
 * The bridge's SQLite state. Each capability owns its tables and its list of migrations under
 * its own name (`drives`, `auth`, `backup`, ...), so modules never edit one shared migration list.
 * A database written by a newer binary (a module version above what this binary knows) is refused.
 */
export class Store {
  readonly db: Db;

  constructor(dataDir: string) {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const file = path.join(dataDir, 'pidrive.db');
    // It holds password and token hashes and S3 keys. The data dir may be pre-made world-readable
    // (systemd StateDirectory, a Docker volume); SQLite gives the -wal and -shm files this mode too.
    fs.closeSync(fs.openSync(file, 'a', 0o600));
    fs.chmodSync(file, 0o600);
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`CREATE TABLE IF NOT EXISTS schema_versions (
      module TEXT PRIMARY KEY, version INTEGER NOT NULL)`);
  }

  /** Applies the module's migrations after the last one recorded, each in its own transaction. */
  migrate(module: string, migrations: readonly string[]): void {
    const row = this.db.prepare('SELECT version FROM schema_versions WHERE module = ?').get(module) as
      | { version: number }
      | undefined;
    const current = row?.version ?? 0;
    if (current > migrations.length) {
      throw new PiDriveError(
        'unsupported',
        `the database was written by a newer PiDrive (${module} schema v${current}, this version knows v${migrations.length}); upgrade PiDrive or restore an older data directory`,
      );
    }
    for (let v = current; v < migrations.length; v++) {
      this.db.transaction(() => {
        this.db.exec(migrations[v]!);
        this.db
          .prepare('INSERT INTO schema_versions (module, version) VALUES (?, ?) ON CONFLICT(module) DO UPDATE SET version = excluded.version')
          .run(module, v + 1);
      })();
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
