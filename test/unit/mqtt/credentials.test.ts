import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigSchema } from '../../../bridge/config/schema.ts';
import { PiDriveError } from '../../../bridge/core/errors.ts';
import { CREDENTIALS_FILE, brokerCredentials } from '../../../bridge/mqtt/credentials.ts';
import { tempDir } from '../../helpers/tools.ts';

const defaults = ConfigSchema.parse({}).embedded_broker;

test('generated once, then read back; the file is 0600 and leaves no temporary files', (t) => {
  const dir = tempDir(t);
  const first = brokerCredentials(dir, defaults);
  assert.equal(first.source, 'generated');
  assert.equal(first.username, 'pidrive');
  assert.ok(first.password.length >= 16);
  const again = brokerCredentials(dir, defaults);
  assert.deepEqual(again, { username: first.username, password: first.password, source: 'file' });
  assert.equal(fs.statSync(path.join(dir, CREDENTIALS_FILE)).mode & 0o777, 0o600);
  assert.deepEqual(fs.readdirSync(dir), [CREDENTIALS_FILE]);
  assert.notEqual(brokerCredentials(tempDir(t), defaults).password, first.password, 'each data dir gets its own');
});

test('configured credentials win; half a pair is refused naming the missing key', (t) => {
  const dir = tempDir(t);
  assert.deepEqual(brokerCredentials(dir, { ...defaults, username: 'u', password: 'p' }), { username: 'u', password: 'p', source: 'config' });
  assert.equal(fs.existsSync(path.join(dir, CREDENTIALS_FILE)), false);
  assert.throws(() => brokerCredentials(dir, { ...defaults, password: 'p' }), (err: PiDriveError) => {
    assert.deepEqual(Object.keys(err.fields ?? {}), ['embedded_broker.username']);
    return true;
  });
});

test('a damaged file is reported, never silently replaced (clients would lose access)', (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, CREDENTIALS_FILE), '{"username": "pidrive"');
  assert.throws(() => brokerCredentials(dir, defaults), (err: PiDriveError) => err.code === 'invalid_config' && /damaged/.test(err.message));
  assert.equal(fs.readFileSync(path.join(dir, CREDENTIALS_FILE), 'utf8'), '{"username": "pidrive"');
});
