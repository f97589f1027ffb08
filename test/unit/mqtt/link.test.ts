import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { createLogger } from '../../../bridge/core/logger.ts';
import { EmbeddedBroker } from '../../../bridge/mqtt/broker.ts';
import { MqttLink, type IncomingMessage } from '../../../bridge/mqtt/link.ts';
import { freePort, retainedSnapshot } from '../../integration/mqtt/harness.ts';

const credentials = { username: 'u', password: 'a-password-for-tests' };

function newLink(port: number, logs: string[], queueLimit = 3): MqttLink {
  return new MqttLink({
    url: `mqtt://127.0.0.1:${port}`,
    clientId: 'link-test',
    ...credentials,
    keepaliveS: 30,
    queueLimit,
    will: { topic: 't/state', payload: 'offline' },
    online: { topic: 't/state', payload: 'online' },
    probeTopic: 't/info',
    probeMs: 500,
    backoff: { initialMs: 100, maxMs: 400 },
    log: createLogger({ level: 'debug', format: 'json', write: (l) => logs.push(l) }),
  });
}

async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await delay(10);
  }
}

test('while the broker is away: retained messages collapse to the latest, others queue up to the limit (oldest dropped)', async (t) => {
  const port = await freePort();
  const logs: string[] = [];
  const link = newLink(port, logs);
  const received: IncomingMessage[] = [];
  await link.subscribe('q/#', (m) => received.push(m));
  link.start();
  t.after(() => link.stop());
  for (let i = 1; i <= 5; i++) void link.publish('q/event', `e${i}`);
  for (let i = 1; i <= 3; i++) void link.publish('t/retained', `r${i}`, { retain: true });
  void link.publish('t/info', 'info1', { retain: true });
  await delay(300);
  assert.equal(link.connected, false);

  const broker = await EmbeddedBroker.start({ host: '127.0.0.1', port, credentials, log: createLogger({ level: 'error', format: 'json' }) });
  t.after(() => broker.close());
  await until(() => received.length >= 3, 'the queued events');
  await delay(200);
  assert.deepEqual(received.map((m) => m.payload.toString()), ['e3', 'e4', 'e5']);
  assert.ok(logs.some((l) => l.includes('mqtt messages dropped while disconnected') && l.includes('"dropped":2')));
  const retained = await retainedSnapshot(`mqtt://127.0.0.1:${port}`, credentials, ['t/#'], 200);
  assert.deepEqual(Object.fromEntries(retained), { 't/state': 'online', 't/retained': 'r3', 't/info': 'info1' });
  assert.deepEqual(link.retainedTopics().sort(), ['t/info', 't/retained', 't/state']);
});

test('identical retained payloads are not re-sent; republishRetained and force send them again; an empty payload is forgotten once sent', async (t) => {
  const port = await freePort();
  const broker = await EmbeddedBroker.start({ host: '127.0.0.1', port, credentials, log: createLogger({ level: 'error', format: 'json' }) });
  t.after(() => broker.close());
  const link = newLink(port, []);
  const seen: string[] = [];
  const saw = (entry: string): boolean => seen.includes(entry);
  await link.subscribe('t/#', (m) => seen.push(`${m.topic}=${m.payload.toString()}`));
  link.start();
  t.after(() => link.stop());
  await until(() => link.connected, 'connected');
  await link.publish('t/a', '1', { retain: true });
  await until(() => saw('t/a=1'), 'first publish');
  seen.length = 0;
  await link.publish('t/a', '1', { retain: true });
  await delay(200);
  assert.deepEqual(seen, [], 'unchanged retained payload not re-sent');
  await link.publish('t/a', '1', { retain: true, force: true });
  await until(() => saw('t/a=1'), 'forced publish');
  seen.length = 0;
  assert.equal(await link.republishRetained(), 2);
  await until(() => saw('t/a=1') && saw('t/state=online'), 'republish');
  await link.publish('t/a', '', { retain: true });
  assert.deepEqual(link.retainedTopics(), ['t/state']);
});

test('broker restart without retained messages: reconnects with backoff and restores them; stop leaves the will payload', async (t) => {
  const port = await freePort();
  const log = createLogger({ level: 'error', format: 'json' });
  let broker = await EmbeddedBroker.start({ host: '127.0.0.1', port, credentials, log });
  const logs: string[] = [];
  const link = newLink(port, logs);
  link.start();
  await until(() => link.connected, 'connected');
  await link.publish('t/info', 'i1', { retain: true });
  await link.publish('t/x', 'x1', { retain: true });
  await broker.close();
  await until(() => !link.connected, 'disconnect noticed');
  await delay(1000);
  broker = await EmbeddedBroker.start({ host: '127.0.0.1', port, credentials, log });
  t.after(() => broker.close());
  const back = Date.now();
  await until(() => logs.some((l) => l.includes('republished them')), 'the republish', 5000);
  assert.ok(Date.now() - back < 5000);
  const retained = await retainedSnapshot(`mqtt://127.0.0.1:${port}`, credentials, ['t/#'], 200);
  assert.deepEqual(Object.fromEntries(retained), { 't/state': 'online', 't/info': 'i1', 't/x': 'x1' });
  await link.stop();
  const after = await retainedSnapshot(`mqtt://127.0.0.1:${port}`, credentials, ['t/state'], 200);
  assert.equal(after.get('t/state'), 'offline');
});
