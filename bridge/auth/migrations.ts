/** The auth module's tables; `Store.migrate('auth', AUTH_MIGRATIONS)` applies the missing ones in order. */
export const AUTH_MIGRATIONS = [
  `CREATE TABLE users (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     role TEXT NOT NULL,
     password_hash TEXT NOT NULL,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL);
   CREATE TABLE tokens (
     name TEXT PRIMARY KEY,
     hash TEXT NOT NULL UNIQUE,
     role TEXT NOT NULL,
     drives TEXT,
     created_at TEXT NOT NULL,
     created_by TEXT NOT NULL,
     expires_at TEXT,
     last_used_at TEXT);
   CREATE TABLE sessions (
     hash TEXT PRIMARY KEY,
     user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
     csrf TEXT NOT NULL,
     created_at TEXT NOT NULL,
     last_seen_at TEXT NOT NULL,
     expires_at TEXT NOT NULL);
   CREATE INDEX sessions_user ON sessions(user_id);
   CREATE TABLE drive_shares (
     drive TEXT NOT NULL,
     user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
     PRIMARY KEY (drive, user_id));`,
  // Shares die with their drive however it is removed (API, MQTT, offline CLI), so a new drive of
  // the same id never inherits them. Needs the drives module's table, migrated first.
  `DELETE FROM drive_shares WHERE drive NOT IN (SELECT id FROM drives);
   CREATE TRIGGER drive_shares_die_with_drive AFTER DELETE ON drives
   BEGIN DELETE FROM drive_shares WHERE drive = OLD.id; END;`,
  // An admin token acts on the whole bridge, so a drive list on one was a contradiction (accepted
  // before version 3): such tokens keep their drives and become operators.
  `UPDATE tokens SET role = 'operator' WHERE role = 'admin' AND drives IS NOT NULL;`,
];
