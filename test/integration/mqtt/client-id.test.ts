import assert from 'node:assert/strict';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { Aedes, type Client } from 'aedes';
import mqtt from 'mqtt';
import { startBridge, waitUntil } from './harness.ts';

/** A real aedes broker on a free loopback port that records the client id of every connection it accepts. */
async function recordingBroker(t: TestContext): Promise<{ url: string; nextClient(timeoutMs: number): Promise<string> }> {
  const aedes = await Aedes.createBroker();
  const seen: string[] = [];
  const waiters: Array<() => void> = [];
  aedes.on('client', (client: Client) => {
    seen.push(client.id);
    for (const w of waiters.splice(0)) w();
  });
  const server = net.createServer((socket) => aedes.handle(socket));
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  let taken = 0;
  return {
    url: `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    async nextClient(timeoutMs) {
      if (taken < seen.length) return seen[taken++]!;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no client connected to the broker within ${timeoutMs} ms`)), timeoutMs);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      return seen[taken++]!;
    },
  };
}

test('mqtt.client_id from the configuration is the client id the broker sees, and the one logged', { timeout: 60_000 }, async (t) => {
  const broker = await recordingBroker(t);
  const b = await startBridge(t, { bridgeId: 'pi07', mqttUrl: broker.url, config: { mqtt: { url: broker.url, client_id: 'garage-pidrive-7' } } });
  assert.equal(await broker.nextClient(15_000), 'garage-pidrive-7');
  // The broker sees the CONNECT before the bridge has its CONNACK and logs.
  await waitUntil(() => b.logs.some((l) => l.msg === 'mqtt connected'), 15_000, 'the "mqtt connected" log line');
  const connected = b.logs.find((l) => l.msg === 'mqtt connected');
  assert.ok(connected, JSON.stringify(b.logs));
  assert.equal(connected.client_id, 'garage-pidrive-7');
});

test('without mqtt.client_id the bridge connects as pidrive_<bridge id>', { timeout: 60_000 }, async (t) => {
  const broker = await recordingBroker(t);
  await startBridge(t, { bridgeId: 'pi08', mqttUrl: broker.url });
  assert.equal(await broker.nextClient(15_000), 'pidrive_pi08');
});

test('on the embedded broker the bridge is connected as mqtt.client_id: a second client with that id takes its session over', { timeout: 60_000 }, async (t) => {
  const b = await startBridge(t, { bridgeId: 'pi09', config: { mqtt: { client_id: 'embedded-client-9' } } });
  await b.synced();
  const connected = b.logs.find((l) => l.msg === 'mqtt connected');
  assert.ok(connected, JSON.stringify(b.logs));
  assert.equal(connected.client_id, 'embedded-client-9');
  assert.equal(b.logs.filter((l) => l.msg === 'mqtt disconnected; reconnecting').length, 0);
  // MQTT lets one connection per client id: the broker drops the bridge only if that id is the bridge's.
  const twin = await mqtt.connectAsync(b.url, { ...b.clientOptions, clientId: 'embedded-client-9', reconnectPeriod: 0 });
  t.after(() => twin.endAsync(true));
  await waitUntil(() => b.logs.some((l) => l.msg === 'mqtt disconnected; reconnecting'), 15_000, 'the bridge to lose its session to the twin');
  // And it comes back by itself.
  await waitUntil(() => b.logs.some((l) => l.msg === 'mqtt connected' && l.reconnect === true), 15_000, 'the bridge to reconnect');
});
