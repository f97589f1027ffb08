import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { test } from 'node:test';
import mqtt from 'mqtt';
import { tempDir } from '../../helpers/tools.ts';

const main = path.resolve(import.meta.dirname, '../../../bridge/cli/main.ts');

/**
 * Home Assistant's Restart button publishes the `restart` request: the real `pidrive start`
 * restarts in its own process with the configuration read anew, without a supervisor.
 */
test('the restart request restarts "pidrive start" in process; an invalid configuration refuses it', { timeout: 60_000 }, async (t) => {
  const dataDir = tempDir(t, 'pidrive-restart-');
  const configFile = path.join(dataDir, 'pidrive.yaml');
  const config = (level: string, httpPort = 0) =>
    ['bridge: { id: rs }', `http: { host: 127.0.0.1, port: ${httpPort} }`, 'embedded_broker: { host: 127.0.0.1, port: 0 }', 'gadget: { backend: simulated }', `log: { level: ${level}, format: json }`].join('\n');
  fs.writeFileSync(configFile, config('info'));
  const child = spawn(process.execPath, [main, 'start', '--data-dir', dataDir], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.after(() => void (child.exitCode === null && child.kill('SIGKILL')));
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  const wakeAll = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  readline.createInterface({ input: child.stderr! }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      lines.push({ msg: 'NOT JSON', line });
    }
    wakeAll();
  });
  child.on('exit', wakeAll);
  const logged = async (msg: string, count = 1): Promise<Record<string, unknown>> => {
    for (;;) {
      const found = lines.filter((l) => l.msg === msg);
      if (found.length >= count) return found[count - 1]!;
      if (child.exitCode !== null) throw new Error(`the bridge exited (${child.exitCode}) before logging "${msg}"`);
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  await logged('bridge started');
  const port = (await logged('embedded MQTT broker listening')).port as number;
  const credentials = JSON.parse(fs.readFileSync(path.join(dataDir, 'mqtt-broker.json'), 'utf8')) as { username: string; password: string };
  const request = async (brokerPort: number, transaction: string): Promise<Record<string, unknown>> => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${brokerPort}`, { ...credentials, reconnectPeriod: 0 });
    try {
      // As Home Assistant does: ask once the bridge says it is online (it subscribes before that).
      const online = new Promise<void>((resolve) =>
        client.on('message', (topic, payload) => topic === 'pidrive/rs/bridge/state' && JSON.parse(payload.toString()).state === 'online' && resolve()),
      );
      const answer = new Promise<Record<string, unknown>>((resolve) =>
        client.on('message', (topic, payload) => topic.endsWith('/response/restart') && resolve(JSON.parse(payload.toString()) as Record<string, unknown>)),
      );
      await client.subscribeAsync(['pidrive/rs/bridge/state', 'pidrive/rs/bridge/response/restart']);
      await online;
      await client.publishAsync('pidrive/rs/bridge/request/restart', JSON.stringify({ transaction }));
      return await answer;
    } finally {
      await client.endAsync();
    }
  };

  assert.deepEqual(await request(port, 'r1'), { status: 'ok', data: { restarting: true }, transaction: 'r1' });
  await logged('restarting');
  await logged('bridge started', 2);
  assert.equal(child.exitCode, null, 'the process lives on');
  const port2 = (await logged('embedded MQTT broker listening', 2)).port as number;

  // An invalid configuration: the request is answered with the problem, nothing restarts.
  fs.writeFileSync(configFile, config('loud'));
  const refused = await request(port2, 'r2');
  assert.equal(refused.status, 'error');
  assert.match(JSON.stringify((refused.error as { fields: unknown }).fields), /log\.level/);
  assert.equal(child.exitCode, null);
  assert.equal(lines.filter((l) => l.msg === 'bridge started').length, 2);

  // A valid configuration that cannot start (its HTTP port is taken): back on the last one that did.
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  t.after(() => squatter.close());
  fs.writeFileSync(configFile, config('info', (squatter.address() as net.AddressInfo).port));
  assert.equal((await request(port2, 'r3')).status, 'ok');
  await logged('the restarted bridge failed to start; starting again with the previous configuration');
  await logged('bridge started', 3);
  const port3 = (await logged('embedded MQTT broker listening', 3)).port as number;
  fs.writeFileSync(configFile, config('info'));
  assert.equal((await request(port3, 'r4')).status, 'ok', 'the bridge answers again');
  await logged('bridge started', 4);
  assert.deepEqual(lines.filter((l) => l.msg === 'NOT JSON'), [], 'every log line is JSON');

  child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  assert.equal(code, 0);
  assert.ok(lines.some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM'));
  const { Store } = await import('../../../bridge/store/database.ts');
  const store = new Store(dataDir);
  t.after(() => store.close());
  const audited = store.db.prepare("SELECT actor FROM events WHERE kind = 'audit' AND action = 'bridge.restart'").all() as Array<{ actor: string }>;
  assert.deepEqual(audited.map((r) => r.actor), ['mqtt', 'mqtt', 'mqtt'], 'each accepted restart is audited, the refused one is not');
});
