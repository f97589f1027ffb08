/** Tables of the backup module; migrations are append-only. */
export const BACKUP_MIGRATIONS = [
  `CREATE TABLE backup_repositories (
     name TEXT PRIMARY KEY,
     url TEXT NOT NULL,
     access_key_id TEXT,
     secret_access_key TEXT,
     block_size INTEGER,
     created_at TEXT NOT NULL);
   CREATE TABLE backup_jobs (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     type TEXT NOT NULL,
     state TEXT NOT NULL,
     drive TEXT,
     repository TEXT NOT NULL,
     actor TEXT NOT NULL,
     params TEXT NOT NULL,
     progress TEXT NOT NULL,
     result TEXT,
     error TEXT,
     created_at TEXT NOT NULL,
     started_at TEXT,
     finished_at TEXT);
   CREATE INDEX backup_jobs_state ON backup_jobs(state, seq);
   CREATE INDEX backup_jobs_drive ON backup_jobs(drive, seq);
   CREATE TABLE backup_drive_state (
     drive TEXT PRIMARY KEY,
     repository TEXT NOT NULL,
     snapshot TEXT NOT NULL,
     time TEXT NOT NULL,
     new_bytes INTEGER NOT NULL,
     suspicious_change INTEGER NOT NULL);
   CREATE TABLE backup_schedules (
     id TEXT PRIMARY KEY,
     drives TEXT NOT NULL,
     cron TEXT NOT NULL,
     timezone TEXT NOT NULL,
     repository TEXT NOT NULL,
     keep TEXT,
     created_at TEXT NOT NULL);
   CREATE TABLE backup_schedule_runs (
     id TEXT PRIMARY KEY,
     last_run TEXT NOT NULL);`,
  `CREATE TABLE backup_repositories_seen (
     name TEXT PRIMARY KEY,
     url TEXT NOT NULL,
     repository_id TEXT NOT NULL);`,
];
