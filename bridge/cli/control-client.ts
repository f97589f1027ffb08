import http from 'node:http';
import path from 'node:path';
import { PiDriveError } from '../core/errors.ts';

export const SOCKET_NAME = 'pidrive.sock';

export function socketPath(dataDir: string): string {
  return path.join(dataDir, SOCKET_NAME);
}

/**
 * One HTTP request to the running bridge over its owner-only control socket. The socket speaks the
 * same API as the TCP listener, as the local administrator.
 */
export function bridgeRequest<T>(dataDir: string, method: string, apiPath: string, body?: unknown): Promise<T> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise<T>((resolve, reject) => {
    const req = http.request(
      {
        socketPath: socketPath(dataDir),
        method,
        path: `/api/v1${apiPath}`,
        headers: { 'content-type': 'application/json', ...(payload ? { 'content-length': payload.length } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown = null;
          try {
            json = text ? JSON.parse(text) : null;
          } catch {
            reject(new PiDriveError('internal', `the bridge answered ${res.statusCode} with a body that is not JSON`));
            return;
          }
          if ((res.statusCode ?? 500) >= 400) {
            const e = (json as { error?: { code?: string; message?: string; fields?: Record<string, string> } } | null)?.error;
            reject(new PiDriveError((e?.code as PiDriveError['code']) ?? 'internal', e?.message ?? `the bridge answered ${res.statusCode}`, e?.fields));
          } else resolve(json as T);
        });
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
