import fs from 'node:fs';
import os from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { PiDriveError } from '../core/errors.ts';
import type { BackupControl } from '../backup/types.ts';
import type { BridgeContext, Extension } from '../context.ts';
import type { DriveEvent } from '../drives/model.ts';
import { bridgeDiscovery } from '../../ha-discovery/bridge.ts';
import { driveDiscovery } from '../../ha-discovery/drive.ts';
import { RESERVED_DRIVE_IDS } from '../../ha-discovery/ids.ts';
import { ownsConfig, type DiscoveryContext } from '../../ha-discovery/messages.ts';
import type { DiscoveryMessage } from '../../ha-discovery/schemas.ts';
import { EmbeddedBroker } from './broker.ts';
import { MAX_PAYLOAD_BYTES, parseSetCommand, type SetCommand } from './commands.ts';
import { brokerCredentials } from './credentials.ts';
import { MqttLink, type IncomingMessage, type LinkOptions } from './link.ts';
import { OFFLINE, ONLINE, bridgeInfoPayload, driveEventPayload, driveStatePayload } from './payloads.ts';
import { MQTT_ACTOR, answerRequest, auditLive, type RequestDeps } from './requests.ts';
import { safeUrl } from './safe-url.ts';
import { topicsFor, type Topics } from './topics.ts';

export interface MqttExtensionOptions {
  backup?: BackupControl | null;
  /** Start-up sweep of stale discovery configs: done after this long without a retained config arriving... */
  sweepQuietMs?: number;
  /** ...or after this long at most. */
  sweepMaxMs?: number;
  /** How long a reconnect waits for the broker to show it kept our retained messages. */
  probeMs?: number;
}

export interface MqttStatus {
  connected: boolean;
  broker: 'embedded' | 'external';
  url: string;
}

/**
 * PiDrive on MQTT: retained bridge and drive state, `/set` commands, events, request/response and
 * Home Assistant discovery with its lifecycle (new drive, removal, stale sweep at start, republish
 * when HA comes online). Starts the embedded broker when `mqtt.url` is empty.
 */
export class MqttExtension implements Extension {
  readonly name = 'mqtt';
  readonly #ctx: BridgeContext;
  readonly #options: MqttExtensionOptions;
  #topics: Topics | null = null;
  #link: MqttLink | null = null;
  #broker: EmbeddedBroker | null = null;
  #status: MqttStatus | null = null;
  readonly #chains = new Map<string, Promise<unknown>>();
  readonly #startedAt = Date.now();
  #synced: Promise<void> = Promise.resolve();
  #republishing: Promise<void> | null = null;
  #stopped = false;

  constructor(ctx: BridgeContext, options: MqttExtensionOptions = {}) {
    this.#ctx = ctx;
    this.#options = options;
  }

  get status(): MqttStatus | null {
    return this.#status ? { ...this.#status, connected: this.#link?.connected ?? false } : null;
  }

  /** The embedded broker's port (0 with an external broker). */
  get brokerPort(): number {
    return this.#broker?.port ?? 0;
  }

  /** Resolves once the first connection has published everything and swept stale configs. */
  whenSynced(): Promise<void> {
    return this.#synced;
  }

  async start(): Promise<void> {
    const { config, log, bus } = this.#ctx;
    const topics = topicsFor(config.mqtt.base_topic, config.bridge.id);
    this.#topics = topics;
    const connection = await this.#connection();
    const link = new MqttLink({
      ...connection,
      clientId: config.mqtt.client_id ?? `pidrive_${config.bridge.id}`,
      keepaliveS: config.mqtt.keepalive_s,
      queueLimit: config.mqtt.queue_limit,
      will: { topic: topics.bridgeState, payload: OFFLINE },
      online: { topic: topics.bridgeState, payload: ONLINE },
      probeTopic: topics.bridgeInfo,
      ...(this.#options.probeMs !== undefined ? { probeMs: this.#options.probeMs } : {}),
      log: log.child({ module: 'mqtt' }),
    });
    this.#link = link;

    await link.subscribe(topics.setFilter, (m) => this.#onSet(m));
    await link.subscribe(topics.requestFilter, (m) => this.#onRequest(m));
    if (config.homeassistant.discovery) await link.subscribe(config.homeassistant.status_topic, (m) => this.#onHaStatus(m));

    bus.on(this, 'drive_added', ({ id }) => this.#publishDrive(id));
    bus.on(this, 'drive_removed', ({ id }) => this.#clearDrive(id));
    bus.on(this, 'drive_state', ({ id }) => this.#publishState(id));
    bus.on(this, 'drive_event', (event) => this.#publishEvent(event));
    bus.on(this, 'host_state', () => this.#publishAllStates());
    bus.on(this, 'bridge_info', () => this.#publishInfo());
    bus.on(this, 'job', ({ job }) => {
      if (job.drive) this.#publishState(job.drive);
    });

    this.#publishEverything();
    this.#synced = new Promise<void>((resolve) => {
      link.on('connect', ({ first }) => {
        if (!first) return;
        this.#sweep()
          .catch((err: unknown) => log.warn('discovery sweep failed', { error: (err as Error).message }))
          .finally(resolve);
      });
    });
    link.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#ctx.bus.removeListeners(this);
    await this.#link?.stop();
    this.#link = null;
    await this.#broker?.close();
    this.#broker = null;
  }

  /** Where and how to connect: the configured broker, or the embedded one started here. */
  async #connection(): Promise<Pick<LinkOptions, 'url' | 'username' | 'password' | 'tls'>> {
    const { config, dataDir, log } = this.#ctx;
    if (config.mqtt.url) {
      this.#status = { connected: false, broker: 'external', url: safeUrl(config.mqtt.url) };
      return { url: config.mqtt.url, username: config.mqtt.username, password: config.mqtt.password, tls: readTls(config.mqtt.tls) };
    }
    const eb = config.embedded_broker;
    const credentials = brokerCredentials(dataDir, eb);
    if (credentials.source === 'generated') {
      // Shown once, as the issue asks, and at once: a broker that then fails to start must not
      // swallow it. `pidrive mqtt credentials` shows it again.
      log.info(
        `generated embedded MQTT broker login: user "${credentials.username}", password "${credentials.password}" (shown once; see "pidrive mqtt credentials")`,
      );
    }
    this.#broker = await EmbeddedBroker.start({ host: eb.host, port: eb.port, credentials, log: log.child({ module: 'broker' }) });
    const port = this.#broker.port;
    log.info('embedded MQTT broker listening', { host: eb.host, port, user: credentials.username });
    const host = eb.host === '0.0.0.0' || eb.host === '::' || eb.host === '' ? '127.0.0.1' : eb.host;
    const url = `mqtt://${host.includes(':') ? `[${host}]` : host}:${port}`;
    this.#status = { connected: false, broker: 'embedded', url };
    return { url, username: credentials.username, password: credentials.password, tls: undefined };
  }

  #discoveryContext(): DiscoveryContext {
    const { config, version } = this.#ctx;
    return { bridgeId: config.bridge.id, prefix: config.homeassistant.discovery_prefix, topics: this.#topics!, version, webUrl: webUrl(config.http) };
  }

  #driveDiscovery(id: string): DiscoveryMessage[] {
    if (!this.#ctx.config.homeassistant.discovery) return [];
    if (RESERVED_DRIVE_IDS.includes(id)) {
      this.#ctx.log.error('drive id is reserved by Home Assistant discovery; not published there (rename the drive)', { drive: id });
      return [];
    }
    return driveDiscovery(this.#discoveryContext(), id);
  }

  #expectedDiscovery(): DiscoveryMessage[] {
    if (!this.#ctx.config.homeassistant.discovery) return [];
    return [...bridgeDiscovery(this.#discoveryContext()), ...this.#ctx.drives.list().flatMap((d) => this.#driveDiscovery(d.id))];
  }

  #publishEverything(): void {
    this.#publishInfo();
    for (const m of this.#expectedDiscovery()) void this.#link!.publish(m.topic, m.payload, { retain: true, qos: 1 });
    this.#publishAllStates();
  }

  #publishDrive(id: string): void {
    for (const m of this.#driveDiscovery(id)) void this.#link?.publish(m.topic, m.payload, { retain: true, qos: 1 });
    this.#publishState(id);
    this.#publishInfo();
  }

  /** Configs first, then the state topic the entities' availability reads: HA drops the entities before their state goes. */
  #clearDrive(id: string): void {
    const link = this.#link;
    if (!link) return;
    const ctx = this.#discoveryContext();
    const topics = RESERVED_DRIVE_IDS.includes(id) ? [] : driveDiscovery(ctx, id).map((m) => m.topic);
    for (const topic of topics) void link.publish(topic, '', { retain: true, qos: 1 });
    void link.publish(this.#topics!.drive(id), '', { retain: true, qos: 1 });
    this.#publishInfo();
  }

  /** Never throws: a drive that vanished meanwhile is skipped, anything else is logged. */
  #publishState(id: string, withInfo = true): void {
    const link = this.#link;
    if (!link) return;
    try {
      const payload = JSON.stringify(driveStatePayload(this.#ctx.drives.view(id)));
      void link.publish(this.#topics!.drive(id), payload, { retain: true, qos: 1 });
    } catch (err) {
      if (!(err instanceof PiDriveError && err.code === 'not_found')) this.#ctx.log.error('cannot publish drive state', { drive: id, err });
    }
    if (withInfo) this.#publishInfo();
  }

  #publishAllStates(): void {
    for (const d of this.#ctx.drives.list()) this.#publishState(d.id, false);
    this.#publishInfo();
  }

  #publishInfo(): void {
    const ctx = this.#ctx;
    const payload = bridgeInfoPayload({
      version: ctx.version,
      gadget: ctx.attachments.info(),
      drives: ctx.drives.list(),
      host: ctx.attachments.hostState(),
      broker: this.#broker ? 'embedded' : 'external',
    });
    void this.#link?.publish(this.#topics!.bridgeInfo, JSON.stringify(payload), { retain: true, qos: 1 });
  }

  #publishEvent(event: DriveEvent): void {
    void this.#link?.publish(this.#topics!.driveEvent(event.drive), JSON.stringify(driveEventPayload(event)), { qos: 1 });
  }

  /**
   * zigbee2mqtt's start-up sweep: read the retained configs under the discovery prefix; those
   * that are ours (their topics lie under this bridge's root) but no longer expected are cleared,
   * and so are retained states of drives that no longer exist (removed while the bridge was down).
   */
  async #sweep(): Promise<void> {
    const link = this.#link!;
    const topics = this.#topics!;
    const { config, log } = this.#ctx;
    const configFilter = `${config.homeassistant.discovery_prefix}/+/+/+/config`;
    const stateFilter = `${topics.root}/drive/+`;
    const ours = new Set<string>();
    const states = new Set<string>();
    let lastSeen = Date.now();
    await link.subscribe(configFilter, (m) => {
      if (!m.retain) return;
      lastSeen = Date.now();
      if (m.payload.length <= MAX_PAYLOAD_BYTES && ownsConfig(topics, m.payload.toString('utf8'))) ours.add(m.topic);
      else ours.delete(m.topic);
    });
    await link.subscribe(stateFilter, (m) => {
      if (!m.retain) return;
      lastSeen = Date.now();
      if (m.payload.length > 0) states.add(m.topic);
    });
    const quiet = this.#options.sweepQuietMs ?? 1000;
    const max = this.#options.sweepMaxMs ?? 5000;
    const started = Date.now();
    lastSeen = started;
    while (!this.#stopped && Date.now() - lastSeen < quiet && Date.now() - started < max) await delay(Math.min(50, quiet));
    await link.unsubscribe(configFilter);
    await link.unsubscribe(stateFilter);
    if (this.#stopped) return;
    const expected = new Set(this.#expectedDiscovery().map((m) => m.topic));
    const drives = new Set(this.#ctx.drives.list().map((d) => topics.drive(d.id)));
    const stale = [...[...ours].filter((t) => !expected.has(t)), ...[...states].filter((t) => !drives.has(t))];
    for (const topic of stale) void link.publish(topic, '', { retain: true, qos: 1 });
    log.info('discovery sweep done', { ours: ours.size, stale: stale.length });
  }

  /** HA restarted (and may have lost its broker's retained messages with it): everything again. */
  #onHaStatus(m: IncomingMessage): void {
    if (m.payload.toString('utf8').trim() !== 'online' || this.#republishing) return;
    this.#republishing = (async () => {
      this.#publishEverything();
      const count = await this.#link!.republishRetained();
      this.#ctx.log.info('Home Assistant came online; republished discovery and states', { messages: count });
    })().finally(() => {
      this.#republishing = null;
    });
  }

  #onSet(m: IncomingMessage): void {
    const { log } = this.#ctx;
    const id = this.#topics!.setTarget(m.topic);
    if (id === null) return;
    if (m.retain) {
      log.warn('ignored a retained /set command (it would replay on every reconnect); publish commands without retain', { topic: m.topic });
      return;
    }
    let command: SetCommand;
    try {
      command = parseSetCommand(m.payload);
    } catch (err) {
      log.warn('ignored an invalid /set command', { drive: id, error: (err as Error).message });
      return;
    }
    void this.#serial(id, () => this.#runSet(id, command)).catch((err: unknown) => {
      const message = err instanceof PiDriveError ? err.message : 'internal error';
      if (!(err instanceof PiDriveError)) log.error('mqtt /set failed unexpectedly', { drive: id, err });
      else log.warn('mqtt /set refused', { drive: id, op: command.op, error: message });
      this.#publishState(id);
    });
  }

  async #runSet(id: string, command: SetCommand): Promise<void> {
    const { drives, attachments } = this.#ctx;
    drives.get(id);
    switch (command.op) {
      case 'attach':
        await attachments.attach(id, command.mode ? { mode: command.mode } : {});
        break;
      case 'detach':
        await attachments.detach(id);
        break;
      case 'eject':
        await attachments.eject(id);
        break;
      case 'mode':
        await attachments.setMode(id, command.mode);
        break;
      case 'backup': {
        const backup = this.#options.backup;
        if (!backup) throw new PiDriveError('unavailable', 'backups are not available on this bridge', { backup: 'unavailable' });
        backup.startBackup(id, { actor: MQTT_ACTOR.actor });
        break;
      }
    }
    if (command.op !== 'backup') {
      const { op, ...details } = command;
      auditLive(this.#ctx, op, id, details);
    }
    this.#publishState(id);
  }

  #onRequest(m: IncomingMessage): void {
    const topics = this.#topics!;
    const path = topics.requestPath(m.topic);
    if (path === null) return;
    const deps: RequestDeps = {
      ctx: this.#ctx,
      backup: this.#options.backup ?? null,
      serial: (id, fn) => this.#serial(id, fn),
      startedAt: this.#startedAt,
      mqttConnected: () => this.#link?.connected ?? false,
    };
    const answer = m.retain
      ? Promise.resolve({
          status: 'error' as const,
          data: {},
          error: { code: 'bad_request', message: 'ignored a retained request replayed by the broker; publish requests without retain' },
        })
      : answerRequest(path, m.payload, deps);
    void answer.then(async (response) => {
      await this.#link?.publish(topics.response(path), JSON.stringify(response), { qos: 1 });
      if (path === 'restart' && response.status === 'ok') {
        this.#ctx.events.append({ kind: 'audit', action: 'bridge.restart', actor: MQTT_ACTOR.actor, source: MQTT_ACTOR.source, details: {} });
        this.#ctx.restart.request();
      }
    });
  }

  /** One operation per drive at a time, in arrival order; a failure does not block the next. */
  #serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#chains.get(id) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.#chains.set(id, settled);
    void settled.then(() => {
      if (this.#chains.get(id) === settled) this.#chains.delete(id);
    });
    return next;
  }
}

function readTls(tls: BridgeContext['config']['mqtt']['tls']): LinkOptions['tls'] {
  const read = (file: string | undefined, key: string): Buffer | undefined => {
    if (!file) return undefined;
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new PiDriveError('invalid_config', `cannot read mqtt.tls.${key} ${file}: ${(err as NodeJS.ErrnoException).code}`, { [`mqtt.tls.${key}`]: 'unreadable' });
    }
  };
  const ca = read(tls.ca_file, 'ca_file');
  const cert = read(tls.cert_file, 'cert_file');
  const key = read(tls.key_file, 'key_file');
  if (!ca && !cert && !key && tls.reject_unauthorized) return undefined;
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}), rejectUnauthorized: tls.reject_unauthorized };
}

/** The web UI's address for HA's "Visit" link, or null when it cannot be told (port 0, odd host name). */
function webUrl(http: BridgeContext['config']['http']): string | null {
  if (http.port === 0) return null;
  const wildcard = http.host === '0.0.0.0' || http.host === '::' || http.host === '';
  const host = wildcard ? os.hostname() : http.host;
  if (!/^[A-Za-z0-9.-]+$/.test(host) && !/^[0-9a-fA-F:]+$/.test(host)) return null;
  const scheme = http.tls_cert_file ? 'https' : 'http';
  try {
    return new URL(`${scheme}://${host.includes(':') ? `[${host}]` : host}:${http.port}/`).toString();
  } catch {
    return null;
  }
}
