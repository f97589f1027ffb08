import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { PiDriveError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { safeUrl } from './safe-url.ts';
import { topicMatches } from './topics.ts';

export interface LinkOptions {
  url: string;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean } | undefined;
  keepaliveS: number;
  /** Non-retained messages kept while disconnected; the oldest are dropped beyond it. */
  queueLimit: number;
  /** Published by the broker when we vanish, and by us on a clean stop (retained, qos 1). */
  will: { topic: string; payload: string };
  /** Published retained on every connect, before anything else. */
  online: { topic: string; payload: string };
  /**
   * A retained topic of ours that is not re-sent on connect: after a reconnect, the broker still
   * holding its last acknowledged payload proves it kept our retained messages; otherwise every
   * retained message is republished (brokers without persistence lose them on restart).
   */
  probeTopic: string;
  probeMs?: number;
  backoff?: { initialMs: number; maxMs: number };
  log: Logger;
}

export interface IncomingMessage {
  topic: string;
  payload: Buffer;
  retain: boolean;
}
export type MessageHandler = (message: IncomingMessage) => void;

export interface PublishOptions {
  retain?: boolean;
  qos?: 0 | 1;
  /** Send a retained message even when the broker already has this payload from us. */
  force?: boolean;
}

interface Retained {
  payload: string;
  qos: 0 | 1;
}

/**
 * The bridge's one connection to a broker and its one publish path. It keeps a cache of every
 * retained message it published, so a reconnect to a broker that lost them (restart without
 * persistence) restores them all, and a broker that kept them is not flooded. While disconnected,
 * retained messages collapse to their latest payload per topic and other messages wait in a
 * bounded queue. Reconnects back off exponentially up to `backoff.maxMs`.
 */
export class MqttLink extends EventEmitter<{ connect: [{ first: boolean }]; disconnect: [] }> {
  readonly #o: LinkOptions;
  readonly #log: Logger;
  readonly #retained = new Map<string, Retained>();
  readonly #dirty = new Set<string>();
  readonly #queue: Array<{ topic: string; payload: string; qos: 0 | 1 }> = [];
  readonly #subs = new Map<string, MessageHandler>();
  #client: MqttClient | null = null;
  /** Connected and past the retained-message check: publishes go straight out. */
  #ready = false;
  #connectedOnce = false;
  #wasConnected = false;
  #stopping = false;
  #attempt = 0;
  #dropped = 0;
  #lastError = '';
  #probeAcked: string | null = null;
  #probeWaiter: ((payload: string) => void) | null = null;

  constructor(options: LinkOptions) {
    super();
    this.#o = options;
    this.#log = options.log;
  }

  get connected(): boolean {
    return this.#ready;
  }

  /** Starts connecting; never throws for an unreachable broker (it keeps retrying). */
  start(): void {
    const o = this.#o;
    const backoff = o.backoff ?? { initialMs: 500, maxMs: 5000 };
    const options: IClientOptions = {
      clientId: o.clientId,
      keepalive: o.keepaliveS,
      clean: true,
      reconnectPeriod: backoff.initialMs,
      connectTimeout: 10_000,
      resubscribe: false,
      queueQoSZero: false,
      will: { topic: o.will.topic, payload: Buffer.from(o.will.payload), qos: 1, retain: true },
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(o.tls ? { ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key, rejectUnauthorized: o.tls.rejectUnauthorized } : {}),
    };
    let client: MqttClient;
    try {
      client = mqtt.connect(o.url, options);
    } catch (err) {
      throw new PiDriveError('invalid_config', `mqtt.url "${safeUrl(o.url)}" cannot be used: ${(err as Error).message}`, { 'mqtt.url': 'invalid' });
    }
    this.#client = client;
    // Runs before MQTT.js schedules its next attempt, so each failure lengthens the wait.
    client.prependListener('close', () => {
      const delay = Math.min(backoff.maxMs, backoff.initialMs * 2 ** this.#attempt);
      this.#attempt++;
      client.options.reconnectPeriod = Math.round(delay * (0.8 + Math.random() * 0.4));
      this.#onClose();
    });
    client.on('connect', () => void this.#onConnect(client));
    client.on('error', (err) => {
      const message = err.message;
      if (message !== this.#lastError) this.#log.warn('mqtt connection problem', { url: safeUrl(o.url), error: message });
      this.#lastError = message;
    });
    client.on('message', (topic, payload, packet) => this.#onMessage({ topic, payload, retain: packet.retain }));
  }

  /** Publishes the will's payload ourselves (a clean goodbye), then disconnects. */
  async stop(): Promise<void> {
    this.#stopping = true;
    const client = this.#client;
    if (!client) return;
    if (this.#ready) {
      await withTimeout(this.#send(this.#o.will.topic, this.#o.will.payload, 1, true), 2000);
    }
    this.#ready = false;
    await withTimeout(client.endAsync(!client.connected), 3000).catch(() => client.end(true));
    this.#client = null;
  }

  /**
   * The one publish path. Never throws: while disconnected the message waits (retained: its latest
   * payload per topic; others: in the bounded queue). Resolves once the broker has it or it waits.
   */
  publish(topic: string, payload: string, options: PublishOptions = {}): Promise<void> {
    const qos = options.qos ?? 1;
    if (options.retain) {
      const prev = this.#retained.get(topic);
      if (!options.force && prev?.payload === payload && !this.#dirty.has(topic)) return Promise.resolve();
      this.#retained.set(topic, { payload, qos });
      if (!this.#ready) {
        this.#dirty.add(topic);
        return Promise.resolve();
      }
      this.#dirty.delete(topic);
      return this.#send(topic, payload, qos, true);
    }
    if (!this.#ready) {
      this.#queue.push({ topic, payload, qos });
      if (this.#queue.length > this.#o.queueLimit) {
        this.#queue.shift();
        if (this.#dropped++ === 0) this.#log.warn('mqtt queue full while disconnected; dropping the oldest messages', { limit: this.#o.queueLimit });
      }
      return Promise.resolve();
    }
    return this.#send(topic, payload, qos, false);
  }

  /** Re-sends every retained message we own (Home Assistant came online, or the broker lost them). */
  async republishRetained(): Promise<number> {
    const all = [...this.#retained.entries()];
    for (const [topic] of all) this.#dirty.add(topic);
    if (this.#ready) await this.#flushDirty();
    return all.length;
  }

  /** The retained payloads we currently stand behind (tests and diagnostics). */
  retainedTopics(): string[] {
    return [...this.#retained.entries()].filter(([, r]) => r.payload !== '').map(([t]) => t);
  }

  /** Subscribes now and after every reconnect. One handler per filter. */
  async subscribe(filter: string, handler: MessageHandler): Promise<void> {
    this.#subs.set(filter, handler);
    if (this.#client?.connected) await this.#client.subscribeAsync(filter, { qos: 1 });
  }

  async unsubscribe(filter: string): Promise<void> {
    this.#subs.delete(filter);
    if (this.#client?.connected) await this.#client.unsubscribeAsync(filter).catch(() => undefined);
  }

  async #onConnect(client: MqttClient): Promise<void> {
    const first = !this.#connectedOnce;
    this.#connectedOnce = true;
    this.#wasConnected = true;
    this.#attempt = 0;
    this.#lastError = '';
    client.options.reconnectPeriod = this.#o.backoff?.initialMs ?? 500;
    // Small messages answered by small messages: Nagle's algorithm would hold each for a delayed ACK (~40 ms).
    (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    this.#log.info('mqtt connected', { url: safeUrl(this.#o.url), client_id: this.#o.clientId, reconnect: !first });
    try {
      // Subscribed before "online": a client that sends a request once it sees us online is heard.
      if (this.#subs.size > 0) await client.subscribeAsync([...this.#subs.keys()], { qos: 1 });
      await this.#send(this.#o.online.topic, this.#o.online.payload, 1, true);
      this.#retained.set(this.#o.online.topic, { payload: this.#o.online.payload, qos: 1 });
      this.#dirty.delete(this.#o.online.topic);
      if (!first && !(await this.#brokerKeptRetained(client))) {
        const count = await this.republishRetained();
        this.#log.info('mqtt broker lost our retained messages; republished them', { count });
      }
      if (!client.connected) return;
      this.#ready = true;
      await this.#flushDirty();
      const queued = this.#queue.splice(0);
      if (this.#dropped > 0) this.#log.warn('mqtt messages dropped while disconnected', { dropped: this.#dropped });
      this.#dropped = 0;
      for (const m of queued) void this.#send(m.topic, m.payload, m.qos, false);
      this.emit('connect', { first });
    } catch (err) {
      this.#log.warn('mqtt connect handling failed; retrying on the next connect', { error: (err as Error).message });
    }
  }

  #onClose(): void {
    this.#ready = false;
    if (this.#probeWaiter) this.#probeWaiter('');
    if (this.#wasConnected && !this.#stopping) {
      this.#log.warn('mqtt disconnected; reconnecting', { url: safeUrl(this.#o.url) });
      this.emit('disconnect');
    }
    this.#wasConnected = false;
  }

  async #brokerKeptRetained(client: MqttClient): Promise<boolean> {
    if (this.#probeAcked === null) return false;
    const expected = this.#probeAcked;
    const received = new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve(''), this.#o.probeMs ?? 2000);
      this.#probeWaiter = (payload) => {
        clearTimeout(timer);
        this.#probeWaiter = null;
        resolve(payload);
      };
    });
    await client.subscribeAsync(this.#o.probeTopic, { qos: 1 });
    const payload = await received;
    this.#probeWaiter = null;
    if (!this.#subs.has(this.#o.probeTopic)) await client.unsubscribeAsync(this.#o.probeTopic).catch(() => undefined);
    return payload === expected;
  }

  async #flushDirty(): Promise<void> {
    const pending: Promise<void>[] = [];
    for (const topic of [...this.#dirty]) {
      const r = this.#retained.get(topic);
      this.#dirty.delete(topic);
      if (r) pending.push(this.#send(topic, r.payload, r.qos, true));
    }
    await Promise.all(pending);
  }

  #send(topic: string, payload: string, qos: 0 | 1, retain: boolean): Promise<void> {
    const client = this.#client;
    return new Promise((resolve) => {
      if (!client) return resolve();
      client.publish(topic, payload, { qos, retain }, (err) => {
        if (err) {
          // Kept for the next connect; the broker never confirmed it.
          if (retain && !this.#stopping) this.#dirty.add(topic);
        } else if (retain) {
          if (topic === this.#o.probeTopic) this.#probeAcked = payload;
          // A removal that reached the broker needs no remembering.
          if (payload === '' && this.#retained.get(topic)?.payload === '') this.#retained.delete(topic);
        }
        resolve();
      });
    });
  }

  #onMessage(message: IncomingMessage): void {
    if (this.#probeWaiter && message.topic === this.#o.probeTopic && message.retain) {
      this.#probeWaiter(message.payload.toString('utf8'));
      return;
    }
    for (const [filter, handler] of this.#subs) {
      if (!topicMatches(filter, message.topic)) continue;
      try {
        handler(message);
      } catch (err) {
        this.#log.error('mqtt message handler failed', { topic: message.topic, err });
      }
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([promise, delay(ms, undefined, { ref: false })]);
}
