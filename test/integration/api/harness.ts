import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { RESPONSE_DRIFT } from '../../../bridge/api/app.ts';
import { ApiExtension } from '../../../bridge/api/extension.ts';
import { createBackup } from '../../../bridge/backup/index.ts';
import { ConfigSchema, type Config, type ConfigInput } from '../../../bridge/config/schema.ts';
import type { BridgeContext } from '../../../bridge/context.ts';
import { systemClock, type Clock } from '../../../bridge/core/clock.ts';
import { EventBus } from '../../../bridge/core/event-bus.ts';
import { createLogger } from '../../../bridge/core/logger.ts';
import { Bridge } from '../../../bridge/controller.ts';
import { DriveService } from '../../../bridge/drives/service.ts';
import { createGadget } from '../../../bridge/gadget/index.ts';
import { PoolRegistry } from '../../../bridge/pools/registry.ts';
import { Store } from '../../../bridge/store/database.ts';
import { EventsRepo } from '../../../bridge/store/events-repo.ts';
import { VERSION } from '../../../bridge/version.ts';
import { tempDir } from '../../helpers/tools.ts';

export interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The parsed JSON body (null when empty). */
  body: any;
}

export interface Req {
  method?: string;
  body?: unknown;
  /** Sent as is (for malformed JSON, wrong content types, huge bodies). */
  raw?: string | Buffer;
  token?: string;
  cookie?: string;
  csrf?: string;
  headers?: Record<string, string>;
}

/** The system clock shifted by a test-controlled offset (token expiry without sleeping). */
export function offsetClock(): Clock & { advance(ms: number): void } {
  let offset = 0;
  return {
    now: () => new Date(Date.now() + offset),
    monotonicMs: () => performance.now() + offset,
    setTimeout: systemClock.setTimeout,
    advance: (ms: number) => {
      offset += ms;
    },
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

export function request(target: { port: number } | { socketPath: string }, apiPath: string, req: Req = {}): Promise<Res> {
  const payload = req.raw !== undefined ? Buffer.from(req.raw) : req.body !== undefined ? Buffer.from(JSON.stringify(req.body)) : undefined;
  const headers: Record<string, string> = { ...(payload && { 'content-type': 'application/json', 'content-length': String(payload.length) }) };
  if (req.token) headers.authorization = `Bearer ${req.token}`;
  if (req.cookie) headers.cookie = req.cookie;
  if (req.csrf) headers['x-csrf-token'] = req.csrf;
  Object.assign(headers, req.headers);
  return new Promise((resolve, reject) => {
    const r = http.request(
      {
        ...('port' in target ? { host: '127.0.0.1', port: target.port, agent } : { socketPath: target.socketPath }),
        method: req.method ?? 'GET',
        path: apiPath.startsWith('/api/') ? apiPath : `/api/v1${apiPath}`,
        headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = null;
          if (text) {
            try {
              body = JSON.parse(text);
            } catch {
              body = undefined;
            }
          }
          resolve({ status: res.statusCode!, headers: res.headers, text, body });
        });
      },
    );
    r.on('error', reject);
    if (payload) r.write(payload);
    r.end();
  });
}

export interface TestBridge {
  context: BridgeContext;
  dataDir: string;
  port: number;
  socketPath: string;
  clock: ReturnType<typeof offsetClock>;
  logs: string[];
  /** The first-run setup code printed in the log, if setup was open. */
  setupCode: string | null;
  /** Over TCP, as a client on the network. */
  http(apiPath: string, req?: Req): Promise<Res>;
  /** Over the control socket, as the local administrator. */
  local(apiPath: string, req?: Req): Promise<Res>;
  /** A token made through the control socket. */
  token(name: string, role: string, extra?: Record<string, unknown>): Promise<string>;
}

function testConfig(config: ConfigInput): Config {
  return ConfigSchema.parse({
    ...config,
    bridge: { id: 'test', ...config.bridge },
    http: { host: '127.0.0.1', port: 0, ...config.http },
    gadget: { backend: 'simulated', ...config.gadget },
    embedded_broker: { host: '127.0.0.1', port: 0, ...config.embedded_broker },
    log: { level: 'info', format: 'json' },
  });
}

function testBridge(context: BridgeContext, logs: string[], clock: ReturnType<typeof offsetClock>): TestBridge {
  const parsed = logs.map((l) => JSON.parse(l) as Record<string, unknown>);
  const listening = parsed.find((l) => l.msg === 'api listening');
  if (!listening) throw new Error(`the API did not report its port; log:\n${logs.join('\n')}`);
  const port = listening.port as number;
  const setup = parsed.find((l) => typeof l.setup_code === 'string');
  const socketPath = path.join(context.dataDir, 'pidrive.sock');
  const tb: TestBridge = {
    context,
    dataDir: context.dataDir,
    port,
    socketPath,
    clock,
    logs,
    setupCode: (setup?.setup_code as string | undefined) ?? null,
    http: (p, req) => request({ port }, p, req),
    local: (p, req) => request({ socketPath }, p, req),
    async token(name, role, extra = {}) {
      const res = await tb.local('/tokens', { method: 'POST', body: { name, role, ...extra } });
      if (res.status !== 201) throw new Error(`token ${name}: ${res.status} ${res.text}`);
      return res.body.token as string;
    },
  };
  return tb;
}

/** Every answer a test receives must match the response schema its route declares (and the OpenAPI document shows). */
function failOnResponseDrift(t: TestContext, logs: string[]): void {
  t.after(() => {
    const drift = logs.filter((l) => l.includes(RESPONSE_DRIFT));
    assert.deepEqual(drift, [], 'responses that do not match their schema');
  });
}

/**
 * A real bridge (controller, simulated gadget, API on 127.0.0.1 port 0, control socket) on a
 * fresh data directory, stopped when the test ends.
 */
export async function startBridge(t: TestContext, config: ConfigInput = {}): Promise<TestBridge> {
  const dataDir = tempDir(t, 'pidrive-api-');
  const logs: string[] = [];
  const clock = offsetClock();
  const log = createLogger({ level: 'info', format: 'json', write: (line) => logs.push(line) });
  const bridge = new Bridge({ config: testConfig(config), dataDir, log, clock, restart: { check: () => {}, request: () => {} } });
  await bridge.start();
  t.after(() => bridge.stop());
  failOnResponseDrift(t, logs);
  return testBridge(bridge.context, logs, clock);
}

/**
 * The bridge's parts assembled as the controller does, plus the backup module handed to the API
 * (the controller does not wire the backup module yet): real store, drives, simulated gadget,
 * backup service, API on loopback port 0 and the control socket.
 */
export async function startBridgeWithBackup(t: TestContext, config: ConfigInput = {}): Promise<TestBridge> {
  const dataDir = tempDir(t, 'pidrive-api-');
  const logs: string[] = [];
  const clock = offsetClock();
  const full = testConfig(config);
  const log = createLogger({ level: 'info', format: 'json', write: (line) => logs.push(line) });
  const bus = new EventBus(log);
  const store = new Store(dataDir);
  const events = new EventsRepo(store, bus);
  const pools = new PoolRegistry(store, dataDir, full.pools);
  const drives = new DriveService({ store, pools, bus, events, log });
  const gadget = createGadget({ config: full, dataDir, log, bus, clock, drives, events });
  const backup = createBackup({ config: full, dataDir, log, bus, clock, store, events, drives, attachments: gadget.attachments });
  drives.setViewSources({ hostState: () => gadget.attachments.hostState(), backupInfo: (id) => backup.backup.driveBackupInfo(id) });
  const context: BridgeContext = { config: full, dataDir, version: VERSION, log, bus, clock, store, events, pools, drives, attachments: gadget.attachments, restart: { check: () => {}, request: () => {} } };
  const extensions = [gadget.extension, backup.extension, new ApiExtension(context, { backup: backup.backup })];
  for (const e of extensions) await e.start();
  t.after(async () => {
    for (const e of [...extensions].reverse()) await e.stop();
    store.close();
  });
  failOnResponseDrift(t, logs);
  return testBridge(context, logs, clock);
}

/** Creates a drive through the control socket (unformatted: fast). */
export async function makeDrive(tb: TestBridge, id: string): Promise<void> {
  const res = await tb.local('/drives', { method: 'POST', body: { id, size: '1M', fs: 'none' } });
  if (res.status !== 201) throw new Error(`drive ${id}: ${res.status} ${res.text}`);
}

/** Nothing a client receives may look like a stack trace or carry a secret. */
export function assertClean(res: Res, secrets: readonly string[] = []): void {
  const text = res.text;
  // Stack frames, raw or JSON-escaped; source locations; password hashes.
  const leaks = [/\n\s+at /, /\\n\s+at /, /\.ts:\d+/, /node_modules/, /scrypt\$/, /Error: /];
  for (const re of leaks) if (re.test(text)) throw new Error(`response leaks ${re}: ${text.slice(0, 300)}`);
  for (const s of secrets) if (s && text.includes(s)) throw new Error(`response leaks a secret: ${text.slice(0, 300)}`);
}
