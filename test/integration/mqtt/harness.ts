import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { ConfigSchema, type ConfigInput } from '../../../bridge/config/schema.ts';
import { createLogger } from '../../../bridge/core/logger.ts';
import { Bridge } from '../../../bridge/controller.ts';
import { topicsFor } from '../../../bridge/mqtt/topics.ts';
import {
  BridgeInfoPayload,
  BridgeStatePayload,
  DriveEventPayload,
  DriveStatePayload,
  ResponsePayload,
} from '../../../bridge/mqtt/payloads.ts';
import { discoveryProblems } from '../../../ha-discovery/schemas.ts';
import { findTool, requireTool, tempDir } from '../../helpers/tools.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port}`);
    await delay(50);
  }
}

export interface Mosquitto {
  url: string;
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/**
 * A real Mosquitto (Debian package) on a free loopback port, without persistence (a restart
 * loses every retained message, the case the bridge must recover from). Null when skipped.
 */
export async function startMosquitto(t: TestContext, tls?: { ca: string; cert: string; key: string }): Promise<Mosquitto | null> {
  if (!requireTool(t, 'mosquitto')) return null;
  const dir = tempDir(t, 'pidrive-mosquitto-');
  const port = await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  const tlsConf = tls ? `cafile ${tls.ca}\ncertfile ${tls.cert}\nkeyfile ${tls.key}\nrequire_certificate true\n` : '';
  // `user`: run as root, Mosquitto would switch to the mosquitto user, which cannot read the test's private files.
  const user = `user ${os.userInfo().username}\n`;
  fs.writeFileSync(conf, `${user}listener ${port} 127.0.0.1\n${tlsConf}allow_anonymous true\npersistence false\nlog_dest none\n`);
  let child: ChildProcess | null = null;
  const broker: Mosquitto = {
    url: `${tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    port,
    async start() {
      child = spawn(findTool('mosquitto')!, ['-c', conf], { stdio: 'ignore' });
      await waitForPort(port, 5000);
    },
    async stop() {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise((resolve) => c.once('exit', resolve));
      c.kill('SIGTERM');
      await exited;
    },
  };
  await broker.start();
  t.after(() => broker.stop());
  return broker;
}

export interface TestBridge {
  bridge: Bridge;
  bridgeId: string;
  dataDir: string;
  logs: Array<Record<string, unknown>>;
  /** Where a client reaches the broker the bridge uses, with the credentials it needs. */
  url: string;
  clientOptions: IClientOptions;
  /** Resolves when the bridge logged the end of its start-up discovery sweep. */
  synced(): Promise<void>;
  stop(): Promise<void>;
}

/** A real bridge (controller, simulated gadget) talking to `mqttUrl`, or to its embedded broker when empty. */
export async function startBridge(
  t: TestContext,
  options: { bridgeId?: string; mqttUrl?: string; dataDir?: string; config?: ConfigInput } = {},
): Promise<TestBridge> {
  const bridgeId = options.bridgeId ?? 'pi01';
  const dataDir = options.dataDir ?? tempDir(t, 'pidrive-mqtt-');
  const logs: Array<Record<string, unknown>> = [];
  const config = ConfigSchema.parse({
    ...options.config,
    bridge: { id: bridgeId },
    http: { host: '127.0.0.1', port: 0 },
    mqtt: { url: options.mqttUrl ?? '', ...options.config?.mqtt },
    embedded_broker: { host: '127.0.0.1', port: 0, ...options.config?.embedded_broker },
    gadget: { backend: 'simulated' },
    log: { level: 'info', format: 'json' },
  });
  const log = createLogger({ level: 'info', format: 'json', write: (line) => logs.push(JSON.parse(line) as Record<string, unknown>) });
  const bridge = new Bridge({ config, dataDir, log, restart: { check: () => {}, request: () => logs.push({ msg: 'TEST: restart requested' }) } });
  try {
    await bridge.start();
  } catch (err) {
    await bridge.stop();
    throw err;
  }
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await bridge.stop();
  };
  t.after(stop);
  let url = options.mqttUrl ?? '';
  let clientOptions: IClientOptions = {};
  if (!url) {
    const listening = logs.find((l) => l.msg === 'embedded MQTT broker listening');
    if (!listening) throw new Error('the embedded broker did not report its port');
    url = `mqtt://127.0.0.1:${listening.port as number}`;
    const eb = config.embedded_broker;
    const creds =
      eb.username && eb.password
        ? { username: eb.username, password: eb.password }
        : (JSON.parse(fs.readFileSync(path.join(dataDir, 'mqtt-broker.json'), 'utf8')) as { username: string; password: string });
    clientOptions = { username: creds.username, password: creds.password };
  }
  return {
    bridge,
    bridgeId,
    dataDir,
    logs,
    url,
    clientOptions,
    async synced() {
      await waitUntil(() => logs.some((l) => l.msg === 'discovery sweep done'), 15_000, 'the discovery sweep');
    },
    stop,
  };
}

export async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}

export interface Seen {
  topic: string;
  payload: string;
  retain: boolean;
  qos: number;
}

/**
 * A subscriber that records every message and checks each one against the schema of its topic as
 * it arrives (`problems` collects every message that breaks one): Home Assistant discovery against
 * HA's platform rules, PiDrive's own topics against their payload schemas.
 */
export class Watcher {
  readonly client: MqttClient;
  readonly seen: Seen[] = [];
  readonly problems: string[] = [];
  readonly #bridgeId: string;

  private constructor(client: MqttClient, bridgeId: string) {
    this.client = client;
    this.#bridgeId = bridgeId;
    client.on('message', (topic, payload, packet) => {
      const m = { topic, payload: payload.toString('utf8'), retain: packet.retain, qos: packet.qos };
      this.seen.push(m);
      const problem = this.#check(m);
      if (problem) this.problems.push(`${topic}: ${problem}`);
    });
  }

  static async open(t: TestContext, url: string, options: IClientOptions, bridgeId: string, filters = ['pidrive/#', 'homeassistant/#']): Promise<Watcher> {
    const client = await mqtt.connectAsync(url, { ...options, reconnectPeriod: 200 });
    t.after(() => client.endAsync(true));
    // Listening before subscribing: retained messages can arrive with the SUBACK.
    const watcher = new Watcher(client, bridgeId);
    await client.subscribeAsync(filters, { qos: 2 });
    return watcher;
  }

  /** Waits until nothing has arrived for `ms` (the retained burst after subscribing is over). */
  async quiet(ms = 300): Promise<void> {
    let count = -1;
    while (count !== this.seen.length) {
      count = this.seen.length;
      await delay(ms);
    }
  }

  /** The last payload seen on a topic (retained or live). */
  last(topic: string): string | undefined {
    for (let i = this.seen.length - 1; i >= 0; i--) if (this.seen[i]!.topic === topic) return this.seen[i]!.payload;
    return undefined;
  }

  /** Waits for a message after `from` (an index into `seen`) that satisfies the predicate. */
  async next(predicate: (m: Seen) => boolean, options: { from?: number; timeoutMs?: number; what?: string } = {}): Promise<Seen> {
    const from = options.from ?? 0;
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    for (;;) {
      const found = this.seen.slice(from).find(predicate);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${options.what ?? 'a message'}; saw ${this.seen.slice(from).map((m) => m.topic).join(', ')}`);
      await delay(10);
    }
  }

  async publish(topic: string, payload: string | Buffer, retain = false): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos: 1, retain });
  }

  /** Sends a request and returns the response carrying the same transaction. */
  async request(path: string, body: Record<string, unknown>): Promise<ResponsePayload> {
    const topics = topicsFor('pidrive', this.#bridgeId);
    const from = this.seen.length;
    await this.publish(topics.request(path), JSON.stringify(body));
    const m = await this.next((s) => s.topic === topics.response(path) && (JSON.parse(s.payload) as { transaction?: unknown }).transaction === body.transaction, {
      from,
      what: `the response to ${path}`,
    });
    return JSON.parse(m.payload) as ResponsePayload;
  }

  #check(m: Seen): string | null {
    if (m.topic.startsWith('homeassistant/')) {
      if (m.topic === 'homeassistant/status') return null;
      const problems = discoveryProblems('homeassistant', { ...m, retain: true });
      if (m.qos !== 1) problems.qos = `published with qos ${m.qos}`;
      return Object.keys(problems).length ? JSON.stringify(problems) : null;
    }
    const root = `pidrive/${this.#bridgeId}/`;
    if (!m.topic.startsWith(root)) return null;
    const rest = m.topic.slice(root.length);
    const json = (): unknown => JSON.parse(m.payload);
    const schema =
      rest === 'bridge/state'
        ? BridgeStatePayload
        : rest === 'bridge/info'
          ? BridgeInfoPayload
          : rest.startsWith('bridge/response/')
            ? ResponsePayload
            : rest.startsWith('bridge/request/') || rest.endsWith('/set')
              ? null
              : rest.endsWith('/event')
                ? DriveEventPayload
                : rest.startsWith('drive/')
                  ? DriveStatePayload
                  : undefined;
    if (schema === null) return null;
    if (schema === undefined) return 'a topic outside the contract';
    if (m.payload === '' && rest.startsWith('drive/') && !rest.endsWith('/event')) return null;
    try {
      const parsed = schema.safeParse(json());
      return parsed.success ? null : parsed.error.message;
    } catch {
      return 'not JSON';
    }
  }
}

/**
 * What the broker retains under `filters` right now, as a new subscriber receives it: a fresh
 * client, every message flagged retained, until nothing new arrives for `quietMs`.
 */
export async function retainedSnapshot(url: string, options: IClientOptions, filters: string[], quietMs = 400): Promise<Map<string, string>> {
  const client = await mqtt.connectAsync(url, { ...options, reconnectPeriod: 0 });
  const out = new Map<string, string>();
  let last = Date.now();
  client.on('message', (topic, payload, packet) => {
    last = Date.now();
    if (packet.retain) out.set(topic, payload.toString('utf8'));
  });
  await client.subscribeAsync(filters, { qos: 1 });
  last = Date.now();
  while (Date.now() - last < quietMs) await delay(25);
  await client.endAsync(true);
  return out;
}
