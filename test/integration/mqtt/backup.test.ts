import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { createBackup } from '../../../bridge/backup/index.ts';
import { ConfigSchema } from '../../../bridge/config/schema.ts';
import { systemClock } from '../../../bridge/core/clock.ts';
import { EventBus } from '../../../bridge/core/event-bus.ts';
import { createLogger } from '../../../bridge/core/logger.ts';
import type { BridgeContext } from '../../../bridge/context.ts';
import { DriveService } from '../../../bridge/drives/service.ts';
import { createGadget } from '../../../bridge/gadget/index.ts';
import { MqttExtension } from '../../../bridge/mqtt/extension.ts';
import { topicsFor } from '../../../bridge/mqtt/topics.ts';
import { PoolRegistry } from '../../../bridge/pools/registry.ts';
import { Store } from '../../../bridge/store/database.ts';
import { EventsRepo } from '../../../bridge/store/events-repo.ts';
import { VERSION } from '../../../bridge/version.ts';
import { tempDir } from '../../helpers/tools.ts';
import { Watcher, waitUntil } from './harness.ts';

const topics = topicsFor('pidrive', 'pi01');

/**
 * The bridge's parts assembled as the controller does (real store, drives, simulated gadget,
 * backup service with a folder repository, embedded broker), with the backup module handed to the
 * MQTT extension: the controller does not wire the backup module yet.
 */
async function backupBridge(t: TestContext) {
  const dataDir = tempDir(t, 'pidrive-mqtt-backup-');
  const repo = path.join(dataDir, 'repo');
  fs.mkdirSync(repo);
  const config = ConfigSchema.parse({
    bridge: { id: 'pi01' },
    http: { host: '127.0.0.1', port: 0 },
    embedded_broker: { host: '127.0.0.1', port: 0, username: 'u', password: 'a-test-password' },
    gadget: { backend: 'simulated' },
  });
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger({ level: 'info', format: 'json', write: (l) => logs.push(JSON.parse(l) as Record<string, unknown>) });
  const bus = new EventBus(log);
  const store = new Store(dataDir);
  const events = new EventsRepo(store, bus);
  const pools = new PoolRegistry(store, dataDir, {});
  const drives = new DriveService({ store, pools, bus, events, log });
  const gadget = createGadget({ config, dataDir, log, bus, clock: systemClock, drives, events });
  const backup = createBackup({ config, dataDir, log, bus, clock: systemClock, store, events, drives, attachments: gadget.attachments });
  drives.setViewSources({ hostState: () => gadget.attachments.hostState(), backupInfo: (id) => backup.backup.driveBackupInfo(id) });
  const ctx: BridgeContext = { config, dataDir, version: VERSION, log, bus, clock: systemClock, store, events, pools, drives, attachments: gadget.attachments, restart: { check: () => {}, request: () => {} } };
  const mqtt = new MqttExtension(ctx, { backup: backup.backup, sweepQuietMs: 200 });
  const extensions = [gadget.extension, backup.extension, mqtt];
  for (const e of extensions) await e.start();
  await backup.backup.addRepository({ name: 'main', url: `file://${repo}` }, 'test');
  t.after(async () => {
    for (const e of [...extensions].reverse()) await e.stop();
    store.close();
  });
  await mqtt.whenSynced();
  const url = `mqtt://127.0.0.1:${mqtt.brokerPort}`;
  return { ctx, logs, url, options: { username: 'u', password: 'a-test-password' } };
}

test('backups over MQTT: the Back up now payload, drive/backup and drive/restore; progress lands in state and events', async (t) => {
  const b = await backupBridge(t);
  await b.ctx.drives.create({ id: 'd1', size: '4M', fs: 'none' }, { actor: 'test' });
  const image = b.ctx.drives.view('d1').path;
  const fd = fs.openSync(image, 'r+');
  fs.writeSync(fd, Buffer.alloc(64 * 1024, 7), 0, 64 * 1024, 512 * 1024);
  fs.closeSync(fd);
  const w = await Watcher.open(t, b.url, b.options, 'pi01');

  // What Home Assistant's "Back up now" button sends.
  const from = w.seen.length;
  await w.publish(topics.driveSet('d1'), '{"action":"backup"}');
  const started = await w.next((m) => m.topic === topics.driveEvent('d1') && m.payload.includes('backup_started'), { from, what: 'backup_started' });
  const done = await w.next((m) => m.topic === topics.driveEvent('d1') && m.payload.includes('backup_completed'), { from, timeoutMs: 30_000, what: 'backup_completed' });
  assert.ok(w.seen.indexOf(started) < w.seen.indexOf(done));
  await waitUntil(() => {
    const last = w.last(topics.drive('d1'));
    return last !== undefined && (JSON.parse(last) as { last_backup: string | null }).last_backup !== null;
  }, 10_000, 'last_backup in the state');
  const state = JSON.parse(w.last(topics.drive('d1'))!) as { last_backup: string; last_backup_bytes: number; backup_state: string };
  assert.match(state.last_backup, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/, 'a timestamp with a timezone');
  assert.equal(state.backup_state, 'idle');
  assert.ok(state.last_backup_bytes > 0);

  const queued = await w.request('drive/backup', { id: 'd1', transaction: 'b1' });
  assert.equal(queued.status, 'ok', JSON.stringify(queued));
  assert.equal(queued.transaction, 'b1');
  const job = (queued.data as { job: { id: string; type: string; drive: string } }).job;
  assert.deepEqual([job.type, job.drive], ['backup', 'd1']);

  const restored = await w.request('drive/restore', { id: 'd1', snapshot: 'latest', to: 'd2', transaction: 'r1' });
  assert.equal(restored.status, 'ok', JSON.stringify(restored));
  assert.equal((restored.data as { job: { type: string } }).job.type, 'restore');
  await w.next((m) => m.topic === 'homeassistant/switch/pidrive_pi01_d2/attached/config' && m.payload !== '', { timeoutMs: 30_000, what: 'the restored drive announced' });
  await w.next((m) => m.topic === topics.drive('d2'), { what: 'the restored drive state' });

  const noSnapshot = await w.request('drive/restore', { id: 'd1', transaction: 'r2' });
  assert.equal(noSnapshot.status, 'error');
  assert.ok((noSnapshot as { error: { fields?: Record<string, string> } }).error.fields?.snapshot);
  const poolAlone = await w.request('drive/restore', { id: 'd1', snapshot: 'latest', pool: 'local', transaction: 'r3' });
  assert.deepEqual((poolAlone as { error: { fields?: Record<string, string> } }).error.fields, { pool: 'requires to' });
  const unknownRepo = await w.request('drive/backup', { id: 'd1', repository: 'nope', transaction: 'b2' });
  assert.equal(unknownRepo.status, 'error');
  assert.deepEqual(w.problems, []);
});
