import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { tempDir } from '../../helpers/tools.ts';
import { startBridge } from './harness.ts';

const run = promisify(execFile);
const main = path.resolve(import.meta.dirname, '../../../bridge/cli/main.ts');

async function connectError(url: string, options: mqtt.IClientOptions): Promise<string | null> {
  try {
    const client = await mqtt.connectAsync(url, { ...options, reconnectPeriod: 0, connectTimeout: 3000 });
    await client.endAsync();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

test('embedded broker: generated login kept 0600 in the data dir, logged once, required from every client, shown by the CLI', async (t) => {
  const dataDir = tempDir(t, 'pidrive-mqtt-');
  const first = await startBridge(t, { dataDir });
  await first.synced();
  const file = path.join(dataDir, 'mqtt-broker.json');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  const { username, password } = JSON.parse(fs.readFileSync(file, 'utf8')) as { username: string; password: string };
  assert.ok(password.length >= 16);
  const shown = first.logs.filter((l) => typeof l.msg === 'string' && l.msg.includes(password));
  assert.equal(shown.length, 1, 'the password is logged exactly once, when generated');

  assert.equal(await connectError(first.url, { username, password }), null);
  assert.match((await connectError(first.url, {})) ?? '', /Bad username or password|Not authorized/i);
  assert.match((await connectError(first.url, { username, password: `${password}x` })) ?? '', /Bad username or password|Not authorized/i);
  assert.ok(first.logs.some((l) => l.msg === 'embedded broker refused a client: wrong user name or password'));

  const cli = await run(process.execPath, [main, 'mqtt', 'credentials', '--json', '--data-dir', dataDir]);
  const shownByCli = JSON.parse(cli.stdout) as Record<string, unknown>;
  assert.deepEqual([shownByCli.username, shownByCli.password, shownByCli.port], [username, password, 1883]);

  await first.stop();
  const second = await startBridge(t, { dataDir });
  await second.synced();
  assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), { username, password }, 'the same login after a restart');
  assert.equal(second.logs.filter((l) => typeof l.msg === 'string' && l.msg.includes(password)).length, 0, 'not logged again');
  assert.deepEqual(second.clientOptions, { username, password });
});

test('embedded broker: a configured login replaces the generated one; a half-configured one is refused', async (t) => {
  const dataDir = tempDir(t, 'pidrive-mqtt-');
  const tb = await startBridge(t, { dataDir, config: { embedded_broker: { username: 'ha', password: 'a-long-configured-secret' } } });
  await tb.synced();
  assert.equal(fs.existsSync(path.join(dataDir, 'mqtt-broker.json')), false);
  const url = tb.url;
  assert.equal(await connectError(url, { username: 'ha', password: 'a-long-configured-secret' }), null);
  await tb.stop();
  await assert.rejects(startBridge(t, { config: { embedded_broker: { username: 'ha' } } }), (err: Error & { fields?: Record<string, string> }) => {
    assert.deepEqual(Object.keys(err.fields ?? {}), ['embedded_broker.password']);
    return true;
  });
});

test('embedded broker: a port in use stops the start with an error naming embedded_broker.port', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  await assert.rejects(startBridge(t, { config: { embedded_broker: { port } } }), (err: Error & { fields?: Record<string, string> }) => {
    assert.match(err.message, /cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
    assert.deepEqual(err.fields, { 'embedded_broker.port': 'in use' });
    return true;
  });
});
