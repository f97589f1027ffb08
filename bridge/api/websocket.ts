import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { asPiDriveError, PiDriveError } from '../core/errors.ts';
import { wholeBridgeAdmin, type Principal } from '../auth/principal.ts';
import { principalOf } from './authenticate.ts';
import type { ApiDeps } from './route.ts';
import { bridgeInfo } from './routes/bridge.ts';

export const WS_PATH = '/api/v1/ws';

/** Audit actions after which connected clients' credentials are checked again. */
const CREDENTIAL_CHANGES = new Set(['token.revoke', 'user.remove', 'user.update', 'session.logout']);

export interface WsOptions {
  /** A client with more than this many bytes queued is dropped (it cannot keep up). */
  maxBufferedBytes: number;
  /** How often credentials are checked again (revoked tokens, ended sessions, role changes). */
  recheckMs: number;
}

interface Client {
  principal: Principal;
  /** Re-runs authentication with the headers of the upgrade request. */
  reauth: () => Principal | null;
  /** Drives this client has been told about, so removals and lost access reach exactly them. */
  known: Set<string>;
  alive: boolean;
}

/**
 * `/api/v1/ws`: authenticated like the REST API; on connect the bridge state and every visible
 * drive, then live changes, each as `{"topic", "payload"}` with the MQTT topic below the bridge.
 * A drive that disappears (or becomes invisible) is announced with `payload: null`.
 */
export class WsHub {
  readonly #deps: ApiDeps;
  readonly #options: WsOptions;
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: 4096, clientTracking: false });
  readonly #clients = new Map<WebSocket, Client>();
  #timer: NodeJS.Timeout | null = null;

  constructor(deps: ApiDeps, options: WsOptions) {
    this.#deps = deps;
    this.#options = options;
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head));
  }

  start(): void {
    const { bus, drives } = this.#deps.ctx;
    const driveChanged = ({ id }: { id: string }): void => {
      const drive = drives.find(id);
      if (!drive) return this.#driveGone(id);
      const view = drives.view(id);
      for (const [ws, c] of this.#clients) {
        if (this.#deps.auth.mayAccess(c.principal, drive)) {
          c.known.add(id);
          this.#send(ws, `drive/${id}`, view);
        } else if (c.known.delete(id)) this.#send(ws, `drive/${id}`, null);
      }
    };
    bus.on(this, 'drive_added', driveChanged);
    bus.on(this, 'drive_state', driveChanged);
    bus.on(this, 'drive_removed', ({ id }) => this.#driveGone(id));
    bus.on(this, 'drive_event', (event) => {
      for (const [ws, c] of this.#clients) if (c.known.has(event.drive)) this.#send(ws, `drive/${event.drive}/event`, event);
    });
    bus.on(this, 'job', ({ job }) => {
      for (const [ws, c] of this.#clients) if (job.drive ? c.known.has(job.drive) : wholeBridgeAdmin(c.principal)) this.#send(ws, `job/${job.id}`, job);
    });
    const infoChanged = (): void => {
      for (const [ws, c] of this.#clients) this.#send(ws, 'bridge/info', bridgeInfo(this.#deps, c.principal));
    };
    bus.on(this, 'host_state', infoChanged);
    bus.on(this, 'bridge_info', infoChanged);
    // Revocations take effect at once; the timer catches the rest (expiry, idle sessions, dead peers).
    bus.on(this, 'audit', ({ action }) => {
      if (CREDENTIAL_CHANGES.has(action)) this.#recheck(false);
    });
    this.#timer = setInterval(() => this.#recheck(true), this.#options.recheckMs);
    this.#timer.unref();
  }

  stop(): void {
    this.#deps.ctx.bus.removeListeners(this);
    if (this.#timer) clearInterval(this.#timer);
    for (const ws of this.#clients.keys()) ws.close(1001, 'bridge stopping');
    for (const ws of this.#clients.keys()) ws.terminate();
    this.#clients.clear();
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    let principal: Principal;
    try {
      if (new URL(req.url ?? '/', 'http://x').pathname !== WS_PATH) throw new PiDriveError('not_found', `no WebSocket at ${req.url}`);
      const found = principalOf(req, this.#deps.auth);
      if (!found) throw new PiDriveError('unauthorized', 'log in, or send "Authorization: Bearer <token>"');
      if (found.session) checkOrigin(req);
      principal = found;
    } catch (err) {
      refuse(socket, asPiDriveError(err));
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#connected(ws, principal, req));
  }

  #connected(ws: WebSocket, principal: Principal, req: IncomingMessage): void {
    const headers = { authorization: req.headers.authorization, cookie: req.headers.cookie };
    const client: Client = {
      principal,
      reauth: () => {
        try {
          return principalOf({ headers, socket: req.socket } as IncomingMessage, this.#deps.auth, false);
        } catch {
          return null;
        }
      },
      known: new Set(),
      alive: true,
    };
    this.#clients.set(ws, client);
    ws.on('pong', () => (client.alive = true));
    ws.on('close', () => this.#clients.delete(ws));
    ws.on('error', () => ws.terminate());
    ws.on('message', () => {
      // The stream is one-way; commands go through the REST API.
    });
    this.#send(ws, 'bridge/state', { state: 'online' });
    this.#send(ws, 'bridge/info', bridgeInfo(this.#deps, principal));
    for (const view of this.#deps.auth.visible(principal, this.#deps.ctx.drives.views())) {
      client.known.add(view.id);
      this.#send(ws, `drive/${view.id}`, view);
    }
  }

  #driveGone(id: string): void {
    for (const [ws, c] of this.#clients) if (c.known.delete(id)) this.#send(ws, `drive/${id}`, null);
  }

  /** Drops a client that cannot keep up instead of buffering without bound. */
  #send(ws: WebSocket, topic: string, payload: unknown): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > this.#options.maxBufferedBytes) {
      this.#deps.ctx.log.warn('dropping a slow WebSocket client', { buffered_bytes: ws.bufferedAmount, actor: this.#clients.get(ws)?.principal.actor });
      this.#clients.delete(ws);
      ws.terminate();
      return;
    }
    ws.send(JSON.stringify({ topic, payload }));
  }

  /** Revoked tokens and ended sessions are closed, role changes take effect; with `ping`, dead peers go too. */
  #recheck(ping: boolean): void {
    for (const [ws, c] of this.#clients) {
      const principal = c.reauth();
      if (!principal) {
        this.#clients.delete(ws);
        ws.close(4401, 'credentials no longer valid');
      } else if (ping && !c.alive) {
        this.#clients.delete(ws);
        ws.terminate();
      } else {
        c.principal = principal;
        if (ping) {
          c.alive = false;
          ws.ping();
        }
      }
    }
  }
}

/** A cookie travels with cross-site WebSocket requests too; only our own pages may use it. */
function checkOrigin(req: IncomingMessage): void {
  const origin = req.headers.origin;
  if (origin === undefined) return;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    host = '';
  }
  if (host !== req.headers.host) throw new PiDriveError('forbidden', 'cross-origin WebSocket refused', { origin: 'not this bridge' });
}

function refuse(socket: Duplex, error: PiDriveError): void {
  const body = JSON.stringify(error.toJSON());
  const reason = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found' }[error.status] ?? 'Bad Request';
  socket.end(
    `HTTP/1.1 ${error.status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
