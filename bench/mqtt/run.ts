/**
 * MQTT benchmark (issue 4): the real bridge (controller, simulated gadget) on loopback, against a
 * real Mosquitto and the embedded aedes broker, each figure next to a reference measured in the
 * same run on the same broker.
 *
 *   /set → state round trip over N commands (ON/OFF alternating), p50/p99. Reference: a bare
 *     two-hop relay (client → broker → relay client → broker → client), the floor any bridge pays.
 *   Discovery for D drives (13 configs each + 4 of the bridge): from bridge.start() until a
 *     subscriber holds every config, and the republish after `homeassistant/status` = online.
 *     Reference: one MQTT.js client publishing the same payloads (retained, qos 1) to a subscriber.
 *
 *   node bench/mqtt/run.ts [--commands 1000] [--drives 200] [--brokers mosquitto,embedded] [--out FILE]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import mqttLib, { type IClientOptions, type MqttClient } from 'mqtt';
import { ConfigSchema } from '../../bridge/config/schema.ts';
import { createLogger } from '../../bridge/core/logger.ts';
import { Bridge } from '../../bridge/controller.ts';
import { EventBus } from '../../bridge/core/event-bus.ts';
import { DriveService } from '../../bridge/drives/service.ts';
import { PoolRegistry } from '../../bridge/pools/registry.ts';
import { Store } from '../../bridge/store/database.ts';
import { EventsRepo } from '../../bridge/store/events-repo.ts';
import { topicsFor } from '../../bridge/mqtt/topics.ts';
import { VERSION } from '../../bridge/version.ts';
import { bridgeDiscovery } from '../../ha-discovery/bridge.ts';
import { driveDiscovery } from '../../ha-discovery/drive.ts';

const { values: opts } = parseArgs({
  options: {
    commands: { type: 'string', default: '1000' },
    drives: { type: 'string', default: '200' },
    brokers: { type: 'string', default: 'mosquitto,embedded' },
    out: { type: 'string' },
  },
});
const COMMANDS = Number(opts.commands);
const DRIVES = Number(opts.drives);
const log = (line: string): void => void process.stderr.write(`[bench:mqtt] ${line}\n`);
/** Bench clients without Nagle's algorithm, so their own sockets do not add delayed-ACK stalls. */
const mqtt = {
  async connectAsync(url: string, options: IClientOptions): Promise<MqttClient> {
    const client = await mqttLib.connectAsync(url, options);
    (client.stream as net.Socket).setNoDelay?.(true);
    return client;
  },
};
const quiet = createLogger({ level: 'error', format: 'json', write: () => {} });
const topics = topicsFor('pidrive', 'bench');

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function startMosquitto(dir: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  // set_tcp_nodelay: Mosquitto's default (off) adds a ~40 ms delayed-ACK stall per hop, which would hide what the bridge costs.
  fs.writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\nset_tcp_nodelay true\n`);
  const child = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((r) => net.connect(port, '127.0.0.1').once('connect', function (this: net.Socket) { this.destroy(); r(true); }).once('error', () => r(false)));
    if (up) break;
    await delay(50);
  }
  return { url: `mqtt://127.0.0.1:${port}`, child };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function stats(samples: number[]): { p50_ms: number; p99_ms: number; mean_ms: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (n: number): number => Math.round(n * 1000) / 1000;
  return { p50_ms: round(percentile(sorted, 50)), p99_ms: round(percentile(sorted, 99)), mean_ms: round(samples.reduce((a, b) => a + b, 0) / samples.length) };
}

/** Waits for the first message satisfying `match` that arrives after the call. */
function waitMessage(client: MqttClient, match: (topic: string, payload: Buffer) => boolean): Promise<void> {
  return new Promise((resolve) => {
    const on = (topic: string, payload: Buffer): void => {
      if (!match(topic, payload)) return;
      client.off('message', on);
      resolve();
    };
    client.on('message', on);
  });
}

async function relayReference(url: string, options: IClientOptions): Promise<number[]> {
  const relay = await mqtt.connectAsync(url, options);
  const client = await mqtt.connectAsync(url, options);
  await relay.subscribeAsync('ref/in', { qos: 1 });
  relay.on('message', (_t, payload) => void relay.publish('ref/out', payload, { qos: 1, retain: true }));
  await client.subscribeAsync('ref/out', { qos: 1 });
  const samples: number[] = [];
  for (let i = 0; i < COMMANDS; i++) {
    const body = `{"attached":${i % 2 === 0},"n":${i}}`;
    const got = waitMessage(client, (t, p) => t === 'ref/out' && p.toString() === body);
    const t0 = performance.now();
    await client.publishAsync('ref/in', body, { qos: 1 });
    await got;
    samples.push(performance.now() - t0);
  }
  await relay.endAsync();
  await client.endAsync();
  return samples;
}

async function roundTrips(url: string, options: IClientOptions): Promise<number[]> {
  const client = await mqtt.connectAsync(url, options);
  await client.subscribeAsync(topics.drive('d0'), { qos: 1 });
  await delay(300);
  const samples: number[] = [];
  for (let i = 0; i < COMMANDS; i++) {
    const attach = i % 2 === 0;
    const got = waitMessage(client, (t, p) => t === topics.drive('d0') && (JSON.parse(p.toString()) as { attached: boolean }).attached === attach);
    const t0 = performance.now();
    await client.publishAsync(topics.driveSet('d0'), attach ? 'ON' : 'OFF', { qos: 1 });
    await got;
    samples.push(performance.now() - t0);
  }
  await client.endAsync();
  return samples;
}

/** Time until `client` (already subscribed to the prefix) has seen every expected config topic. */
function allConfigs(client: MqttClient, expected: Set<string>): Promise<number> {
  const missing = new Set(expected);
  const t0 = performance.now();
  return new Promise((resolve) => {
    const on = (topic: string, payload: Buffer): void => {
      if (payload.length > 0) missing.delete(topic);
      if (missing.size === 0) {
        client.off('message', on);
        resolve(performance.now() - t0);
      }
    };
    client.on('message', on);
  });
}

async function publishReference(url: string, options: IClientOptions, messages: Array<{ topic: string; payload: string }>): Promise<number> {
  const sub = await mqtt.connectAsync(url, options);
  await sub.subscribeAsync('refdisc/#', { qos: 1 });
  const pub = await mqtt.connectAsync(url, options);
  const expected = new Set(messages.map((m) => `refdisc/${m.topic}`));
  const done = allConfigs(sub, expected);
  for (const m of messages) void pub.publish(`refdisc/${m.topic}`, m.payload, { qos: 1, retain: true });
  const ms = await done;
  for (const m of messages) void pub.publish(`refdisc/${m.topic}`, '', { qos: 1, retain: true });
  await delay(200);
  await pub.endAsync();
  await sub.endAsync();
  return ms;
}

function seedDrives(dataDir: string, count: number): Promise<void> {
  const store = new Store(dataDir);
  const bus = new EventBus(quiet);
  const events = new EventsRepo(store, bus);
  const pools = new PoolRegistry(store, dataDir, {});
  const drives = new DriveService({ store, pools, bus, events, log: quiet });
  return (async () => {
    for (let i = 0; i < count; i++) await drives.create({ id: `d${i}`, size: '1M', fs: 'none' }, { actor: 'bench' });
    store.close();
  })();
}

async function benchBroker(kind: 'mosquitto' | 'embedded', work: string): Promise<Record<string, unknown>> {
  const dir = fs.mkdtempSync(path.join(work, `${kind}-`));
  const dataDir = path.join(dir, 'data');
  await seedDrives(dataDir, DRIVES);
  const mosquitto = kind === 'mosquitto' ? await startMosquitto(dir) : null;
  const config = ConfigSchema.parse({
    bridge: { id: 'bench' },
    http: { host: '127.0.0.1', port: 0 },
    mqtt: { url: mosquitto?.url ?? '' },
    embedded_broker: { host: '127.0.0.1', port: mosquitto ? 0 : await freePort(), username: 'bench', password: 'bench-password-123' },
    gadget: { backend: 'simulated' },
  });
  const url = mosquitto?.url ?? `mqtt://127.0.0.1:${config.embedded_broker.port}`;
  const options: IClientOptions = mosquitto ? {} : { username: 'bench', password: 'bench-password-123' };
  const ctx = { bridgeId: 'bench', prefix: 'homeassistant', topics, version: VERSION, webUrl: null };
  const expected = new Set([...bridgeDiscovery(ctx), ...Array.from({ length: DRIVES }, (_, i) => driveDiscovery(ctx, `d${i}`)).flat()].map((m) => m.topic));

  const bridge = new Bridge({ config, dataDir, log: quiet, restart: { check: () => {}, request: () => {} } });
  let startup: number;
  if (mosquitto) {
    const sub = await mqtt.connectAsync(url, options);
    await sub.subscribeAsync('homeassistant/#', { qos: 1 });
    const done = allConfigs(sub, expected);
    const t0 = performance.now();
    await bridge.start();
    await done;
    startup = performance.now() - t0;
    await sub.endAsync();
  } else {
    // The embedded broker starts with the bridge: the subscriber connects as soon as it listens.
    const t0 = performance.now();
    await bridge.start();
    const sub = await mqtt.connectAsync(url, { ...options, reconnectPeriod: 50 });
    const done = allConfigs(sub, expected);
    await sub.subscribeAsync('homeassistant/#', { qos: 1 });
    await done;
    startup = performance.now() - t0;
    await sub.endAsync();
  }
  log(`${kind}: ${expected.size} configs for ${DRIVES} drives held by a subscriber ${startup.toFixed(0)} ms after start`);
  await delay(6000); // let the start-up sweep finish

  const sub = await mqtt.connectAsync(url, options);
  await sub.subscribeAsync('homeassistant/#', { qos: 1 });
  await delay(1000);
  const republished = allConfigs(sub, expected);
  await sub.publishAsync('homeassistant/status', 'online');
  const republish = await republished;
  await sub.endAsync();
  const payloads = [...bridgeDiscovery(ctx), ...Array.from({ length: DRIVES }, (_, i) => driveDiscovery(ctx, `d${i}`)).flat()];
  const reference = await publishReference(url, options, payloads);
  log(`${kind}: republish after HA online ${republish.toFixed(0)} ms; plain client publishing the same ${payloads.length} configs ${reference.toFixed(0)} ms`);

  const ref = stats(await relayReference(url, options));
  const rt = stats(await roundTrips(url, options));
  log(`${kind}: /set → state p50 ${rt.p50_ms} ms p99 ${rt.p99_ms} ms; relay reference p50 ${ref.p50_ms} ms p99 ${ref.p99_ms} ms`);
  await bridge.stop();
  mosquitto?.child.kill();
  const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;
  return {
    broker: kind,
    set_round_trip: { commands: COMMANDS, ...rt, reference_relay: ref, ratio_p50: ratio(rt.p50_ms, ref.p50_ms), ratio_p99: ratio(rt.p99_ms, ref.p99_ms) },
    discovery: {
      drives: DRIVES,
      configs: expected.size,
      from_start_ms: Math.round(startup),
      republish_after_ha_online_ms: Math.round(republish),
      reference_plain_publish_ms: Math.round(reference),
      ratio_republish: ratio(republish, reference),
    },
  };
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pidrive-bench-mqtt-'));
const results: Record<string, unknown>[] = [];
try {
  for (const kind of opts.brokers.split(',')) {
    if (kind !== 'mosquitto' && kind !== 'embedded') throw new Error(`--brokers: unknown broker "${kind}"`);
    if (kind === 'mosquitto' && !fs.existsSync('/usr/sbin/mosquitto')) {
      log('mosquitto is not installed; skipped');
      continue;
    }
    results.push(await benchBroker(kind, work));
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
const report = { date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', results };
const out = opts.out ? path.resolve(opts.out) : path.join(import.meta.dirname, 'results', `${report.date.slice(0, 10)}.json`);
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
process.stdout.write(JSON.stringify(report, null, 2) + '\n');
log(`written ${out}`);
