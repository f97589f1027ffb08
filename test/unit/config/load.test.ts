import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../../bridge/config/load.ts';
import { tempDir } from '../../helpers/tools.ts';

test('embedded defaults: no file, no variables', () => {
  const { config, dataDir, configFile } = loadConfig({ env: {} });
  assert.equal(configFile, null);
  assert.equal(dataDir, path.resolve('data'));
  assert.equal(config.http.port, 8080);
  assert.equal(config.mqtt.url, '');
  assert.equal(config.mqtt.base_topic, 'pidrive');
  assert.equal(config.embedded_broker.port, 1883);
  assert.equal(config.homeassistant.discovery_prefix, 'homeassistant');
  assert.equal(config.gadget.backend, 'auto');
  assert.match(config.bridge.id, /^[a-z0-9][a-z0-9_-]*$/);
});

test('file, then PIDRIVE_<SECTION>__<KEY> variables typed by the schema, then *_file secrets', (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'pidrive.yaml'), 'bridge:\n  id: garage\nhttp:\n  port: 9000\nmqtt:\n  url: mqtt://broker:1883\n');
  fs.writeFileSync(path.join(dir, 'secret'), 's3cr3t\n');
  const { config, configFile } = loadConfig({
    dataDir: dir,
    env: {
      PIDRIVE_HTTP__PORT: '9100',
      PIDRIVE_MQTT__USERNAME: '1234',
      PIDRIVE_MQTT__PASSWORD_FILE: path.join(dir, 'secret'),
      PIDRIVE_MQTT__TLS__REJECT_UNAUTHORIZED: 'false',
      PIDRIVE_HTTP__TRUSTED_PROXIES: '[127.0.0.1, "::1"]',
    },
  });
  assert.equal(configFile, path.join(dir, 'pidrive.yaml'));
  assert.equal(config.bridge.id, 'garage');
  assert.equal(config.http.port, 9100);
  assert.equal(config.mqtt.url, 'mqtt://broker:1883');
  assert.equal(config.mqtt.username, '1234', 'a numeric-looking value of a string key stays a string');
  assert.equal(config.mqtt.password, 's3cr3t');
  assert.equal(config.mqtt.tls.reject_unauthorized, false);
  assert.deepEqual(config.http.trusted_proxies, ['127.0.0.1', '::1']);
});

test('an invalid configuration lists every problem by path', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'bad.yaml');
  fs.writeFileSync(file, 'http:\n  port: high\n  colour: blue\ngadget:\n  luns: 99\nschedules:\n  - cron: "0 3 * * *"\n');
  assert.throws(
    () => loadConfig({ configFile: file, env: { PIDRIVE_MQTT__KEEPALIVE_S: 'soon', PIDRIVE_NOPE__X: '1', PIDRIVE_MQTT__PASSWORD_FILE: '/does/not/exist' } }),
    (err: { code: string; fields: Record<string, string>; exitCode: number }) => {
      assert.equal(err.code, 'invalid_config');
      assert.equal(err.exitCode, 2);
      for (const key of ['http.port', 'http', 'gadget.luns', 'schedules.0.drives', 'schedules.0.repository', 'mqtt.keepalive_s', 'env PIDRIVE_NOPE__X', 'mqtt.password_file']) {
        assert.ok(key in err.fields, `${key} missing from ${JSON.stringify(err.fields)}`);
      }
      return true;
    },
  );
});

test('YAML syntax errors and a non-mapping document are refused clearly', (t) => {
  const dir = tempDir(t);
  const broken = path.join(dir, 'broken.yaml');
  fs.writeFileSync(broken, 'http: [unclosed\n');
  assert.throws(() => loadConfig({ configFile: broken, env: {} }), /not valid YAML/);
  fs.writeFileSync(broken, '- a\n- b\n');
  assert.throws(() => loadConfig({ configFile: broken, env: {} }), /mapping/);
  assert.throws(() => loadConfig({ configFile: path.join(dir, 'missing.yaml'), env: {} }), /cannot read/);
});
