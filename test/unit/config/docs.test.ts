import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../../bridge/config/load.ts';
import type { PiDriveError } from '../../../bridge/core/errors.ts';
import { configTable, renderReadme } from '../../../scripts/gen-config-docs.ts';

test('the README configuration table is generated from the schema and up to date', () => {
  const readme = fs.readFileSync(path.resolve(import.meta.dirname, '../../../README.md'), 'utf8');
  assert.equal(renderReadme(readme), readme, 'run: npm run gen:config-docs');
  const table = configTable();
  for (const key of ['`mqtt.url`', '`http.port`', '`gadget.luns`', '`schedules[].cron`', '`pools.<name>.path`', 'PIDRIVE_MQTT__URL', 'PIDRIVE_MQTT__TLS__CA_FILE']) {
    assert.ok(table.includes(key), key);
  }
});

test('every environment variable the table lists is one the loader accepts; list elements list none', () => {
  const table = configTable();
  const rows = table.split('\n').slice(2).map((line) => line.split(' | '));
  const envOf = (key: string): string => rows.find((r) => r[0] === `| \`${key}\``)![3]!.replace(/`/g, '');
  assert.equal(envOf('pools.<name>.path'), 'PIDRIVE_POOLS__<NAME>__PATH');
  assert.equal(envOf('schedules[].keep.last'), '');
  assert.equal(envOf('schedules[].cron'), '');
  const dataDir = path.join(os.tmpdir(), 'pidrive-docs-test-none');
  const rejected = (name: string): string | undefined => {
    try {
      loadConfig({ dataDir, env: { [name]: '1' } });
      return undefined;
    } catch (err) {
      return (err as PiDriveError).fields?.[`env ${name}`];
    }
  };
  assert.match(rejected('PIDRIVE_KEEP__LAST') ?? '', /no configuration key/, 'the check itself can fail');
  const listed = [...table.matchAll(/`(PIDRIVE_[A-Z0-9_<>]+)`/g)].map((m) => m[1]!.replace('<NAME>', 'x'));
  assert.ok(listed.length > 20, `${listed.length} variables`);
  for (const name of listed) assert.equal(rejected(name), undefined, name);
});
