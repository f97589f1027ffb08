import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { configTable, renderReadme } from '../../../scripts/gen-config-docs.ts';

test('the README configuration table is generated from the schema and up to date', () => {
  const readme = fs.readFileSync(path.resolve(import.meta.dirname, '../../../README.md'), 'utf8');
  assert.equal(renderReadme(readme), readme, 'run: npm run gen:config-docs');
  const table = configTable();
  for (const key of ['`mqtt.url`', '`http.port`', '`gadget.luns`', '`schedules[].cron`', '`pools.<name>.path`', 'PIDRIVE_MQTT__URL', 'PIDRIVE_MQTT__TLS__CA_FILE']) {
    assert.ok(table.includes(key), key);
  }
});
