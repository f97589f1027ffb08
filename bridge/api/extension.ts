import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { AuthService } from '../auth/service.ts';
import type { BackupControl } from '../backup/types.ts';
import { socketPath } from '../cli/control-client.ts';
import type { BridgeContext, Extension } from '../context.ts';
import { createApp } from './app.ts';
import { listenControlSocket } from './control-socket.ts';
import { apiRoutes } from './routes/index.ts';
import type { ApiDeps } from './route.ts';
import { WsHub } from './websocket.ts';

export interface ApiOptions {
  /** The MQTT link state for GET /bridge (the MQTT extension's `status`). */
  mqttStatus?: () => { connected: boolean } | null;
  /** The backup module (routes for repositories, backups, snapshots, jobs and schedules). */
  backup?: BackupControl;
}

/** The HTTP API on TCP (HTTP or HTTPS) and on the control socket. */
export class ApiExtension implements Extension {
  readonly name = 'api';
  readonly #ctx: BridgeContext;
  readonly #options: ApiOptions;
  #tcp: http.Server | null = null;
  #socket: http.Server | null = null;
  #auth: AuthService | null = null;
  #ws: WsHub | null = null;

  constructor(ctx: BridgeContext, options: ApiOptions = {}) {
    this.#ctx = ctx;
    this.#options = options;
  }

  /** The users, tokens and sessions behind the API (available once started). */
  get auth(): AuthService {
    if (!this.#auth) throw new Error('the API extension is not started');
    return this.#auth;
  }

  /** The TCP port actually bound (useful with port 0). */
  get port(): number {
    return (this.#tcp?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    const { config, log } = this.#ctx;
    const auth = new AuthService(this.#ctx.store, config.auth, this.#ctx.clock);
    this.#auth = auth;
    const { tls_cert_file: certFile, tls_key_file: keyFile } = config.http;
    const tls = Boolean(certFile && keyFile);
    const deps: ApiDeps = { ctx: this.#ctx, auth, tls, mqttStatus: this.#options.mqttStatus ?? (() => null), backup: this.#options.backup ?? null };
    const app = createApp(deps, apiRoutes);

    const ws = new WsHub(deps, { maxBufferedBytes: 1024 * 1024, recheckMs: 15_000 });
    this.#ws = ws;
    this.#socket = await listenControlSocket(socketPath(this.#ctx.dataDir), app);
    const tcp = tls ? https.createServer({ cert: fs.readFileSync(certFile!), key: fs.readFileSync(keyFile!) }, app) : http.createServer(app);
    this.#tcp = tcp;
    ws.attach(this.#socket);
    ws.attach(tcp);
    ws.start();
    const listening = once(tcp, 'listening');
    tcp.listen(config.http.port, config.http.host);
    await listening;
    log.info('api listening', { host: config.http.host, port: this.port, tls, socket: socketPath(this.#ctx.dataDir) });

    const setupCode = auth.openSetup();
    if (setupCode) {
      log.warn('no admin exists yet: run "pidrive user add NAME", or send this one-time setup code with the first admin to POST /api/v1/setup', { setup_code: setupCode });
    }
  }

  /** The live WebSocket hub (available once started). */
  get websocket(): WsHub {
    if (!this.#ws) throw new Error('the API extension is not started');
    return this.#ws;
  }

  async stop(): Promise<void> {
    this.#ws?.stop();
    this.#ws = null;
    for (const server of [this.#tcp, this.#socket]) {
      if (!server) continue;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    this.#tcp = null;
    this.#socket = null;
  }
}
