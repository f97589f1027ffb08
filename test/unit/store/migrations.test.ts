import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Store } from '../../../bridge/store/database.ts';
import { tempDir } from '../../helpers/tools.ts';

test('migrations apply once per module, in WAL mode, and a newer database is refused', (t) => {
  const dir = tempDir(t);
  const store = new Store(dir);
  assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
  store.migrate('demo', ['CREATE TABLE a (x INTEGER)', 'ALTER TABLE a ADD COLUMN y TEXT']);
  store.migrate('demo', ['CREATE TABLE a (x INTEGER)', 'ALTER TABLE a ADD COLUMN y TEXT']);
  store.db.prepare('INSERT INTO a (x, y) VALUES (1, ?)').run('kept');
  store.close();

  const older = new Store(dir);
  assert.throws(() => older.migrate('demo', ['CREATE TABLE a (x INTEGER)']), /newer PiDrive \(demo schema v2, this version knows v1\)/);
  older.migrate('demo', ['CREATE TABLE a (x INTEGER)', 'ALTER TABLE a ADD COLUMN y TEXT', 'CREATE TABLE b (z INTEGER)']);
  assert.equal((older.db.prepare('SELECT y FROM a').get() as { y: string }).y, 'kept');
  older.close();
});

test('a failing migration is rolled back whole', (t) => {
  const store = new Store(tempDir(t));
  t.after(() => store.close());
  assert.throws(() => store.migrate('broken', ['CREATE TABLE c (x INTEGER); CREATE TABLE c (y INTEGER)']));
  assert.equal(store.db.prepare("SELECT name FROM sqlite_master WHERE name = 'c'").get(), undefined);
  assert.equal(store.db.prepare("SELECT version FROM schema_versions WHERE module = 'broken'").get(), undefined);
});

test('the database and its WAL files are private to the owner even in a world-readable data dir', (t) => {
  const dir = tempDir(t);
  fs.chmodSync(dir, 0o755);
  const old = process.umask(0o022);
  t.after(() => process.umask(old));
  const store = new Store(dir);
  store.migrate('demo', ['CREATE TABLE a (x INTEGER)']);
  store.db.prepare('INSERT INTO a (x) VALUES (1)').run();
  for (const name of ['pidrive.db', 'pidrive.db-wal', 'pidrive.db-shm']) {
    assert.equal(fs.statSync(path.join(dir, name)).mode & 0o777, 0o600, name);
  }
  store.close();
});
