/** Tables of the drives module; migrations are append-only. */
export const DRIVE_MIGRATIONS = [
  `CREATE TABLE drives (
     id TEXT PRIMARY KEY,
     pool TEXT NOT NULL,
     file TEXT NOT NULL,
     size_bytes INTEGER NOT NULL,
     filesystem TEXT NOT NULL,
     label TEXT,
     partition TEXT NOT NULL,
     mode TEXT NOT NULL,
     source TEXT NOT NULL,
     attached INTEGER NOT NULL DEFAULT 0,
     lun INTEGER,
     owner TEXT,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     UNIQUE (pool, file));
   CREATE TABLE drive_ops (
     drive TEXT PRIMARY KEY,
     op TEXT NOT NULL,
     pool TEXT NOT NULL,
     tmp_file TEXT,
     final_file TEXT NOT NULL,
     details TEXT NOT NULL,
     started_at TEXT NOT NULL);`,
];

/** Images being written carry this prefix until they are complete; reconcile deletes leftovers. */
export const TEMP_PREFIX = '.pidrive-tmp.';

export interface OpRow {
  drive: string;
  op: 'provision' | 'resize' | 'remove' | 'replace' | 'attach';
  pool: string;
  tmp_file: string | null;
  final_file: string;
  details: string;
}
