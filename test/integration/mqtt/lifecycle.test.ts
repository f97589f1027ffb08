import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { topicsFor } from '../../../bridge/mqtt/topics.ts';
import { openDrives } from '../../helpers/bridge.ts';
import { tempDir } from '../../helpers/tools.ts';
import { expectedDiscovery, expectedRetainedTopics } from './expect.ts';
import { retainedSnapshot, startBridge, startMosquitto, waitUntil, Watcher } from './harness.ts';

const ACTOR = { actor: 'test' };
const everything = ['pidrive/#', 'homeassistant/#'];
const pi01 = topicsFor('pidrive', 'pi01');

test('start-up sweep clears our stale configs (a drive deleted while the bridge was down, a ghost) and nothing else', async (t) => {
  const broker = await startMosquitto(t);
  if (!broker) return;
  const dataDir = tempDir(t, 'pidrive-mqtt-');
  const first = await startBridge(t, { mqttUrl: broker.url, dataDir });
  for (const id of ['keep', 'gone']) await first.bridge.context.drives.create({ id, size: '1M', fs: 'none' }, ACTOR);
  await first.synced();
  const before = await retainedSnapshot(broker.url, {}, everything);
  assert.ok(before.has('homeassistant/switch/pidrive_pi01_gone/attached/config'));
  await first.stop();

  // Offline removal: the bridge never hears of it.
  const offline = openDrives(dataDir);
  await offline.drives.remove('gone', {}, ACTOR);
  offline.close();

  const w = await Watcher.open(t, broker.url, {}, 'pi01');
  const ghost = 'homeassistant/sensor/pidrive_pi01_ghost/size/config';
  await w.publish(ghost, JSON.stringify({ name: 'Size', state_topic: 'pidrive/pi01/drive/ghost', unique_id: 'ghost' }), true);
  const otherBridge = 'homeassistant/switch/pidrive_pi02_keep/attached/config';
  await w.publish(otherBridge, JSON.stringify({ name: 'Attached', command_topic: 'pidrive/pi02/drive/keep/set', availability: [{ topic: 'pidrive/pi02/bridge/state' }] }), true);
  const foreign = 'homeassistant/light/0x00158d0001/light/config';
  await w.publish(foreign, JSON.stringify({ name: null, state_topic: 'zigbee2mqtt/lamp', availability: [{ topic: 'zigbee2mqtt/bridge/state' }] }), true);
  const similarPrefix = 'homeassistant/switch/pidrive_pi01x_keep/attached/config';
  await w.publish(similarPrefix, JSON.stringify({ name: 'Attached', command_topic: 'pidrive/pi01x/drive/keep/set' }), true);

  const second = await startBridge(t, { mqttUrl: broker.url, dataDir });
  await second.synced();
  const sweep = second.logs.find((l) => l.msg === 'discovery sweep done')!;
  assert.equal(sweep.stale, 15, "the deleted drive's 13 configs and its state, and the ghost");
  await waitUntil(() => w.seen.some((m) => m.topic === ghost && m.payload === ''), 5000, 'the ghost cleared');
  const after = await retainedSnapshot(broker.url, {}, everything);
  const ours = [...after.keys()].filter((k) => k.startsWith('pidrive/pi01/') || k.includes('pidrive_pi01_')).sort();
  assert.deepEqual(ours, expectedRetainedTopics('pi01', ['keep']));
  for (const [topic, payload] of expectedDiscovery('pi01', ['keep'])) assert.equal(after.get(topic), payload);
  assert.ok(after.has(otherBridge) && after.has(foreign) && after.has(similarPrefix), 'configs of others survive the sweep');
});

test('broker stopped and restarted without persistence: everything retained is back within 10 s, with what changed meanwhile', async (t) => {
  const broker = await startMosquitto(t);
  if (!broker) return;
  const tb = await startBridge(t, { mqttUrl: broker.url });
  await tb.bridge.context.drives.create({ id: 'drive1', size: '1M', fs: 'none' }, ACTOR);
  await tb.synced();
  const w = await Watcher.open(t, broker.url, {}, 'pi01');

  await broker.stop();
  await waitUntil(() => tb.logs.some((l) => l.msg === 'mqtt disconnected; reconnecting'), 10_000, 'the bridge to notice');
  // While the broker is away: the drive is attached (a retained state change and an event).
  await tb.bridge.context.attachments.attach('drive1');

  const from = w.seen.length;
  await broker.start();
  const back = Date.now();
  const expected = expectedRetainedTopics('pi01', ['drive1']);
  let snapshot = new Map<string, string>();
  while (Date.now() - back < 10_000) {
    snapshot = await retainedSnapshot(broker.url, {}, everything, 200);
    if (expected.every((topic) => snapshot.has(topic))) break;
  }
  const took = Date.now() - back;
  assert.deepEqual([...snapshot.keys()].sort(), expected, `retained set after ${took} ms`);
  assert.ok(took < 10_000, `republished in ${took} ms`);
  assert.equal(snapshot.get(pi01.bridgeState), '{"state":"online"}');
  assert.equal((JSON.parse(snapshot.get(pi01.drive('drive1'))!) as { attached: boolean }).attached, true);
  const event = await w.next((m) => m.topic === pi01.driveEvent('drive1'), { from, what: 'the event queued while disconnected' });
  assert.equal((JSON.parse(event.payload) as { event_type: string }).event_type, 'attached');
  assert.ok(tb.logs.some((l) => l.msg === 'mqtt broker lost our retained messages; republished them'));
  assert.deepEqual(w.problems, []);
});

test('a reconnect to a broker that kept our retained messages does not republish them', async (t) => {
  const broker = await startMosquitto(t);
  if (!broker) return;
  const tb = await startBridge(t, { mqttUrl: broker.url });
  await tb.synced();
  const w = await Watcher.open(t, broker.url, {}, 'pi01');
  await w.quiet();
  // Kick the bridge's client off the broker: a second client with the same client id takes its place.
  const from = w.seen.length;
  const { default: mqtt } = await import('mqtt');
  const usurper = await mqtt.connectAsync(broker.url, { clientId: 'pidrive_pi01', reconnectPeriod: 0 });
  await usurper.endAsync();
  await waitUntil(() => tb.logs.filter((l) => l.msg === 'mqtt connected').length >= 2, 15_000, 'the reconnect');
  await new Promise((r) => setTimeout(r, 2500));
  const republished = w.seen.slice(from).filter((m) => m.topic.startsWith('homeassistant/'));
  assert.deepEqual(republished, [], 'discovery was not sent again');
  assert.ok(!tb.logs.some((l) => l.msg === 'mqtt broker lost our retained messages; republished them'));
  assert.equal(w.last(pi01.bridgeState), '{"state":"online"}');
});

test('two bridges on one broker: separate topics, devices and ids; each acts and cleans up only its own', async (t) => {
  const broker = await startMosquitto(t);
  if (!broker) return;
  const a = await startBridge(t, { mqttUrl: broker.url, bridgeId: 'pi01' });
  const b = await startBridge(t, { mqttUrl: broker.url, bridgeId: 'pi02' });
  for (const tb of [a, b]) await tb.bridge.context.drives.create({ id: 'drive1', size: '1M', fs: 'none' }, ACTOR);
  await Promise.all([a.synced(), b.synced()]);
  const w = await Watcher.open(t, broker.url, {}, 'pi01');

  const both = await retainedSnapshot(broker.url, {}, everything);
  assert.deepEqual([...both.keys()].sort(), [...expectedRetainedTopics('pi01', ['drive1']), ...expectedRetainedTopics('pi02', ['drive1'])].sort());
  const ids = [...both.entries()].filter(([k]) => k.startsWith('homeassistant/')).map(([, v]) => (JSON.parse(v) as { unique_id: string }).unique_id);
  assert.equal(new Set(ids).size, ids.length, 'unique ids never repeat');

  const pi02 = topicsFor('pidrive', 'pi02');
  await w.publish(pi01.driveSet('drive1'), 'ON');
  await w.next((m) => m.topic === pi01.drive('drive1') && (JSON.parse(m.payload) as { attached: boolean }).attached, { what: 'pi01 attached' });
  assert.equal(a.bridge.context.drives.get('drive1').attached, true);
  assert.equal(b.bridge.context.drives.get('drive1').attached, false);

  await b.bridge.context.drives.remove('drive1', {}, ACTOR);
  await w.next((m) => m.topic === pi02.drive('drive1') && m.payload === '', { what: 'pi02 drive1 cleared' });
  await b.stop();
  // A restart of pi01 sweeps: pi02's remaining configs are not pi01's to clear.
  await a.stop();
  const a2 = await startBridge(t, { mqttUrl: broker.url, bridgeId: 'pi01', dataDir: a.dataDir });
  await a2.synced();
  assert.equal(a2.logs.find((l) => l.msg === 'discovery sweep done')!.stale, 0);
  const after = await retainedSnapshot(broker.url, {}, everything);
  const pi02Left = [...after.keys()].filter((k) => k.includes('pi02')).sort();
  assert.deepEqual(pi02Left, [...expectedDiscovery('pi02', []).keys(), pi02.bridgeInfo, pi02.bridgeState].sort());
  assert.equal(after.get(pi02.bridgeState), '{"state":"offline"}', 'a clean stop leaves offline');
  assert.deepEqual(w.problems, []);
});

test('kill -9 of the daemon: the broker publishes the last will, offline', async (t) => {
  const broker = await startMosquitto(t);
  if (!broker) return;
  const dataDir = tempDir(t, 'pidrive-mqtt-');
  fs.writeFileSync(
    path.join(dataDir, 'pidrive.yaml'),
    `bridge: {id: pi01}\nmqtt: {url: "${broker.url}"}\nhttp: {host: 127.0.0.1, port: 0}\ngadget: {backend: simulated}\n`,
  );
  const w = await Watcher.open(t, broker.url, {}, 'pi01');
  const main = path.resolve(import.meta.dirname, '../../../bridge/cli/main.ts');
  const child = spawn(process.execPath, [main, 'start', '--data-dir', dataDir], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  await w.next((m) => m.topic === pi01.bridgeState && m.payload === '{"state":"online"}', { timeoutMs: 20_000, what: 'the daemon online' });
  const from = w.seen.length;
  child.kill('SIGKILL');
  await w.next((m) => m.topic === pi01.bridgeState && m.payload === '{"state":"offline"}', { from, timeoutMs: 10_000, what: 'the last will' });
  const retained = await retainedSnapshot(broker.url, {}, [pi01.bridgeState]);
  assert.equal(retained.get(pi01.bridgeState), '{"state":"offline"}');
});

test('a drive named "bridge" is not announced to Home Assistant (it would merge with the bridge device); its state still is', async (t) => {
  const tb = await startBridge(t);
  await tb.bridge.context.drives.create({ id: 'bridge', size: '1M', fs: 'none' }, ACTOR);
  await tb.synced();
  await waitUntil(() => tb.logs.some((l) => l.msg?.toString().startsWith('drive id is reserved') && l.drive === 'bridge'), 5000, 'the error');
  const retained = await retainedSnapshot(tb.url, tb.clientOptions, everything);
  assert.deepEqual([...retained.keys()].sort(), [...expectedRetainedTopics('pi01', []), pi01.drive('bridge')].sort());
  for (const [topic, payload] of expectedDiscovery('pi01', [])) assert.equal(retained.get(topic), payload, 'the bridge device is untouched');
});
