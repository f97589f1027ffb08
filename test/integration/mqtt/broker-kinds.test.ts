import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { topicsFor } from '../../../bridge/mqtt/topics.ts';
import { driveStatePayload } from '../../../bridge/mqtt/payloads.ts';
import { expectedDiscovery, expectedRetainedTopics } from './expect.ts';
import { retainedSnapshot, startBridge, startMosquitto, Watcher, type TestBridge } from './harness.ts';

/**
 * The MQTT surface end to end, once against a real Mosquitto and once against the embedded aedes
 * broker: the real controller with the simulated gadget, observed by an ordinary MQTT client.
 */
const KINDS = ['mosquitto', 'embedded'] as const;
const topics = topicsFor('pidrive', 'pi01');
const ACTOR = { actor: 'test' };

async function bridgeOn(t: TestContext, kind: (typeof KINDS)[number]): Promise<TestBridge | null> {
  if (kind === 'embedded') return startBridge(t);
  const broker = await startMosquitto(t);
  return broker ? startBridge(t, { mqttUrl: broker.url }) : null;
}

const everyRetained = ['pidrive/#', 'homeassistant/#'];

for (const kind of KINDS) {
  test(`${kind}: retained discovery and state for the bridge and a new drive, exactly`, async (t) => {
    const tb = await bridgeOn(t, kind);
    if (!tb) return;
    await tb.synced();
    const w = await Watcher.open(t, tb.url, tb.clientOptions, 'pi01');
    const created = await w.request('drive/create', { id: 'drive1', size: '1M', fs: 'none', transaction: 'c1' });
    assert.equal(created.status, 'ok', JSON.stringify(created));
    assert.equal(created.transaction, 'c1');
    assert.equal((created.data as { id: string }).id, 'drive1');
    await w.next((m) => m.topic === topics.drive('drive1'), { what: 'the new drive state' });

    const retained = await retainedSnapshot(tb.url, tb.clientOptions, everyRetained);
    assert.deepEqual([...retained.keys()].sort(), expectedRetainedTopics('pi01', ['drive1']));
    for (const [topic, payload] of expectedDiscovery('pi01', ['drive1'])) assert.equal(retained.get(topic), payload, topic);
    assert.equal(retained.get(topics.bridgeState), '{"state":"online"}');
    const view = tb.bridge.context.drives.view('drive1');
    assert.deepEqual(JSON.parse(retained.get(topics.drive('drive1'))!), {
      attached: false,
      mode: 'read_write',
      available: true,
      host_connected: false,
      host_writing: false,
      host_idle_s: null,
      size_bytes: 1048576,
      allocated_bytes: view.allocated_bytes,
      last_backup: null,
      last_backup_bytes: null,
      backup_state: 'idle',
      backup_progress: null,
      suspicious_change: false,
    });
    const info = JSON.parse(retained.get(topics.bridgeInfo)!) as Record<string, unknown>;
    assert.equal(info.drive_count, 1);
    assert.equal(info.attached_drives, 0);
    assert.equal(info.gadget_backend, 'simulated');
    assert.match(info.gadget_reason as string, /simulated/, 'a simulated gadget says so and why');
    assert.equal(typeof info.slots, 'number');
    assert.equal(info.broker, kind === 'embedded' ? 'embedded' : 'external');
    assert.deepEqual(w.problems, []);
  });

  test(`${kind}: /set attaches, detaches, ejects and sets the mode; events are published, never retained`, async (t) => {
    const tb = await bridgeOn(t, kind);
    if (!tb) return;
    await tb.bridge.context.drives.create({ id: 'drive1', size: '1M', fs: 'none' }, ACTOR);
    await tb.synced();
    const w = await Watcher.open(t, tb.url, tb.clientOptions, 'pi01');
    const state = async (payload: string, expect: Record<string, unknown>): Promise<void> => {
      const from = w.seen.length;
      await w.publish(topics.driveSet('drive1'), payload);
      await w.next(
        (m) => m.topic === topics.drive('drive1') && Object.entries(expect).every(([k, v]) => (JSON.parse(m.payload) as Record<string, unknown>)[k] === v),
        { from, what: `state ${JSON.stringify(expect)} after ${payload}` },
      );
    };
    const from = w.seen.length;
    await state('ON', { attached: true });
    const attachedEvent = await w.next((m) => m.topic === topics.driveEvent('drive1'), { from, what: 'the attached event' });
    assert.equal((JSON.parse(attachedEvent.payload) as { event_type: string }).event_type, 'attached');
    await state('OFF', { attached: false });
    await state('{"attached": true}', { attached: true });
    await state('{"attached": false}', { attached: false });
    await state('{"action": "attach"}', { attached: true });
    await state('{"action": "eject"}', { attached: false });
    await state('{"mode": "read_only"}', { mode: 'read_only', attached: false });
    await state('{"attached": true, "mode": "read_write"}', { mode: 'read_write', attached: true });
    await state('{"action": "detach"}', { attached: false });
    assert.equal(tb.bridge.context.drives.get('drive1').attached, false);
    const audit = tb.bridge.context.events.list({ drives: ['drive1'] }).filter((e) => e.kind === 'audit' && e.actor === 'mqtt');
    assert.ok(audit.some((e) => e.action === 'drive.attach') && audit.some((e) => e.action === 'drive.eject'), 'MQTT commands are audited');

    const retained = await retainedSnapshot(tb.url, tb.clientOptions, everyRetained);
    assert.equal(retained.has(topics.driveEvent('drive1')), false, 'events are not retained');
    assert.equal(retained.has(topics.driveSet('drive1')), false);
    assert.deepEqual(w.problems, []);
  });

  test(`${kind}: request/response echoes transactions; every kind of bad input gets a clean error`, async (t) => {
    const tb = await bridgeOn(t, kind);
    if (!tb) return;
    await tb.bridge.context.drives.create({ id: 'drive1', size: '1M', fs: 'none' }, ACTOR);
    await tb.synced();
    const w = await Watcher.open(t, tb.url, tb.clientOptions, 'pi01');

    const attached = await w.request('drive/attach', { id: 'drive1', transaction: 'a1' });
    assert.deepEqual({ status: attached.status, transaction: attached.transaction }, { status: 'ok', transaction: 'a1' });
    assert.equal((attached.data as { attached: boolean }).attached, true);
    const detached = await w.request('drive/detach', { id: 'drive1', transaction: 7 });
    assert.deepEqual([detached.status, detached.transaction, (detached.data as { attached: boolean }).attached], ['ok', 7, false]);
    const audited = tb.bridge.context.events.list({ drives: ['drive1'] }).filter((e) => e.kind === 'audit' && e.actor === 'mqtt').map((e) => e.action);
    assert.deepEqual(audited, ['drive.attach', 'drive.detach']);
    const health = await w.request('health_check', { transaction: 'h' });
    assert.equal(health.status, 'ok');
    assert.equal((health.data as { healthy: boolean }).healthy, true);

    const error = (r: Awaited<ReturnType<Watcher['request']>>): { code: string; fields?: Record<string, string> } => {
      assert.equal(r.status, 'error', JSON.stringify(r));
      assert.deepEqual(r.data, {});
      return (r as { error: { code: string; fields?: Record<string, string> } }).error;
    };
    assert.equal(error(await w.request('drive/attach', { id: 'nope', transaction: 'u' })).code, 'not_found');
    assert.deepEqual(error(await w.request('drive/attach', { id: 'drive1', colour: 'red', transaction: 'f' })).fields, { colour: 'unknown field' });
    assert.ok(error(await w.request('drive/remove', { id: 'drive1', force: 'yes', transaction: 'ty' })).fields?.force);
    assert.ok(error(await w.request('drive/attach', { id: 'Bad Id!', transaction: 'id' })).fields?.id);
    assert.equal(error(await w.request('drive/frobnicate', { transaction: 'p' })).code, 'not_found');
    assert.equal(error(await w.request('drive/create', { id: 'x', size: 'huge', transaction: 'sz' })).code, 'bad_request');

    // Payloads no JSON object can carry a transaction in: the error arrives without one.
    for (const [payload, code] of [
      ['{"id": "drive1", ', 'bad_request'],
      ['[1, 2]', 'bad_request'],
      ['"just a string"', 'bad_request'],
      [JSON.stringify({ id: 'drive1', pad: 'x'.repeat(70 * 1024) }), 'too_large'],
    ] as const) {
      const from = w.seen.length;
      await w.publish(topics.request('drive/attach'), payload);
      const m = await w.next((s) => s.topic === topics.response('drive/attach'), { from, what: `the error for ${payload.slice(0, 20)}` });
      const r = JSON.parse(m.payload) as { status: string; error: { code: string }; transaction?: unknown };
      assert.deepEqual([r.status, r.error.code, r.transaction], ['error', code, undefined]);
    }

    // Bad /set commands: logged, nothing applied (not even half of a command), the bridge carries on.
    for (const payload of ['{"attached": "yes"}', '{"action": "explode"}', '{"attached": true, "mode": "floppy"}', '{"attached": true, "colour": 1}', 'MAYBE', '{', '{"mode": "read_only", "action": "eject"}', 'x'.repeat(70 * 1024)]) {
      await w.publish(topics.driveSet('drive1'), payload);
    }
    await w.publish(topics.driveSet('ghost'), 'ON');
    const warned = (): number => tb.logs.filter((l) => l.msg === 'ignored an invalid /set command' || l.msg === 'mqtt /set refused').length;
    const deadline = Date.now() + 5000;
    while (warned() < 9 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(warned(), 9, 'each bad /set is logged once');
    const record = tb.bridge.context.drives.get('drive1');
    assert.deepEqual([record.attached, record.mode], [false, 'read_write']);
    await w.publish(topics.driveSet('drive1'), 'ON');
    await w.next((m) => m.topic === topics.drive('drive1') && (JSON.parse(m.payload) as { attached: boolean }).attached, { what: 'a valid command after bad ones' });
    assert.deepEqual(w.problems, []);
  });

  test(`${kind}: removing a drive clears its discovery and state; HA coming online republishes everything`, async (t) => {
    const tb = await bridgeOn(t, kind);
    if (!tb) return;
    for (const id of ['drive1', 'drive2']) await tb.bridge.context.drives.create({ id, size: '1M', fs: 'none' }, ACTOR);
    await tb.synced();
    const w = await Watcher.open(t, tb.url, tb.clientOptions, 'pi01');

    const removed = await w.request('drive/remove', { id: 'drive2', transaction: 'rm' });
    assert.equal(removed.status, 'ok', JSON.stringify(removed));
    await w.next((m) => m.topic === topics.drive('drive2') && m.payload === '', { what: 'the cleared drive2 state' });
    const retained = await retainedSnapshot(tb.url, tb.clientOptions, everyRetained);
    assert.deepEqual([...retained.keys()].sort(), expectedRetainedTopics('pi01', ['drive1']));
    assert.equal((JSON.parse(retained.get(topics.bridgeInfo)!) as { drive_count: number }).drive_count, 1);

    const from = w.seen.length;
    await w.publish('homeassistant/status', 'online');
    const expected = expectedRetainedTopics('pi01', ['drive1']);
    for (const topic of expected) await w.next((m) => m.topic === topic, { from, what: `${topic} republished` });
    const again = w.seen.slice(from);
    assert.ok(!again.some((m) => m.topic.includes('drive2')), 'nothing of the removed drive comes back');
    assert.deepEqual(w.problems, []);
  });
}
