import crypto from 'node:crypto';
import net from 'node:net';
import { Aedes, type AuthenticateError } from 'aedes';
import { PiDriveError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { BrokerCredentials } from './credentials.ts';

/** aedes' CONNACK code for a wrong user name or password. */
const BAD_USERNAME_OR_PASSWORD = 4;

/**
 * The MQTT broker PiDrive runs in-process when no `mqtt.url` is configured, so a fresh install
 * has a broker Home Assistant can use. One user (from `brokerCredentials`), required from every
 * client, the bridge included. Retained messages live in memory; the bridge republishes its own
 * at every start.
 */
export class EmbeddedBroker {
  readonly #aedes: Aedes;
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();

  private constructor(aedes: Aedes, server: net.Server) {
    this.#aedes = aedes;
    this.#server = server;
  }

  static async start(options: { host: string; port: number; credentials: BrokerCredentials; log: Logger }): Promise<EmbeddedBroker> {
    const { credentials, log } = options;
    const expectedUser = Buffer.from(credentials.username);
    const expectedPassword = Buffer.from(credentials.password);
    const aedes = await Aedes.createBroker({
      drainTimeout: 30_000,
      authenticate(client, username, password, done) {
        if (safeEqual(Buffer.from(username ?? ''), expectedUser) && password && safeEqual(password, expectedPassword)) return done(null, true);
        log.warn('embedded broker refused a client: wrong user name or password', { client_id: client.id });
        const err = Object.assign(new Error('bad user name or password'), { returnCode: BAD_USERNAME_OR_PASSWORD }) as AuthenticateError;
        done(err, null);
      },
    });
    aedes.on('clientError', (client, err) => log.debug('embedded broker client error', { client_id: client.id, error: err.message }));
    const server = net.createServer({ noDelay: true }, (socket) => aedes.handle(socket));
    const broker = new EmbeddedBroker(aedes, server);
    server.on('connection', (socket) => {
      broker.#sockets.add(socket);
      socket.once('close', () => broker.#sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        aedes.close();
        reject(
          new PiDriveError('unavailable', `the embedded MQTT broker cannot listen on ${options.host}:${options.port}: ${err.code ?? err.message}`, {
            'embedded_broker.port': err.code === 'EADDRINUSE' ? 'in use' : 'cannot listen',
          }),
        );
      });
      server.listen(options.port, options.host, resolve);
    });
    return broker;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#aedes.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

function safeEqual(a: Buffer, b: Buffer): boolean {
  // Hash first so the comparison takes the same time whatever the lengths.
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}
