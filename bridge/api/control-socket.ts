import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { PiDriveError } from '../core/errors.ts';
import { controlSocketConnections } from './authenticate.ts';

/**
 * Serves `handler` on a unix socket only the bridge's user can open (mode 0600, created under a
 * 0177 umask so it is never reachable by others, even for an instant). Requests arriving here
 * are marked as local (the local administrator).
 */
export async function listenControlSocket(file: string, handler: http.RequestListener): Promise<http.Server> {
  await removeStale(file);
  const server = http.createServer(handler);
  server.on('connection', (socket: net.Socket) => controlSocketConnections.add(socket));
  const listening = once(server, 'listening');
  const previous = process.umask(0o177);
  try {
    server.listen(file);
  } finally {
    process.umask(previous);
  }
  await listening;
  fs.chmodSync(file, 0o600);
  return server;
}

/** A socket file left by a killed bridge is removed; a live one means another bridge runs here. */
async function removeStale(file: string): Promise<void> {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(file);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw new PiDriveError('conflict', `${file} exists and is not a socket; move it away`, { socket: file });
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(file);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new PiDriveError('conflict', `another bridge is listening on ${file}`, { socket: file });
  fs.rmSync(file, { force: true });
}
