import http from 'node:http';
import path from 'node:path';
import { PiDriveError } from '../core/errors.ts';

export const SOCKET_NAME = 'pidrive.sock';

export function socketPath(dataDir: string): string {
  return path.join(dataDir, SOCKET_NAME);
}

/**
 * One HTTP request over the running bridge's owner-only control socket, which speaks the same API
 * as the TCP listener, as the local administrator. The answer comes back whatever its status.
 */
export function controlRequest(dataDir: string, method: string, apiPath: string, body?: unknown): Promise<{ status: number; text: string }> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath: socketPath(dataDir),
        // A kept-alive socket would outlive a bridge that was restarted in between.
        agent: false,
        method,
        path: `/api/v1${apiPath}`,
        headers: { 'content-type': 'application/json', ...(payload ? { 'content-length': payload.length } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        reject(new PiDriveError('unavailable', `the bridge is not running (no control socket at ${socketPath(dataDir)}); start it with "pidrive start"`));
      } else reject(err);
    });
    if (payload) req.write(payload);
    req.end();
  });
}

/** A control-socket request whose error answers become PiDriveErrors carrying the bridge's code and fields. */
export async function bridgeRequest<T>(dataDir: string, method: string, apiPath: string, body?: unknown): Promise<T> {
  const { status, text } = await controlRequest(dataDir, method, apiPath, body);
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    throw new PiDriveError('internal', `the bridge answered ${status} with a body that is not JSON`);
  }
  if (status >= 400) {
    const e = (json as { error?: { code?: string; message?: string; fields?: Record<string, string> } } | null)?.error;
    throw new PiDriveError((e?.code as PiDriveError['code']) ?? 'internal', e?.message ?? `the bridge answered ${status}`, e?.fields);
  }
  return json as T;
}
