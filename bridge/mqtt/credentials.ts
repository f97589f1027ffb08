import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { PiDriveError } from '../core/errors.ts';
import type { Config } from '../config/schema.ts';

export const CREDENTIALS_FILE = 'mqtt-broker.json';

const StoredCredentials = z.object({ username: z.string().min(1), password: z.string().min(16) }).strict();
export type BrokerCredentials = z.infer<typeof StoredCredentials>;

export interface ResolvedCredentials extends BrokerCredentials {
  /** config: both set in embedded_broker; file: generated earlier; generated: just now (show once). */
  source: 'config' | 'file' | 'generated';
}

/**
 * The embedded broker's one user. Configured values win; otherwise a random password is generated
 * once and kept in `<data-dir>/mqtt-broker.json` (mode 0600). The file appears atomically (written
 * aside, then hard-linked into place), so a kill -9 never leaves half a file and two starters agree.
 */
export function brokerCredentials(dataDir: string, config: Config['embedded_broker']): ResolvedCredentials {
  if (config.username !== undefined || config.password !== undefined) {
    if (!config.username || !config.password) {
      throw new PiDriveError('invalid_config', 'embedded_broker.username and embedded_broker.password must be set together', {
        [config.username ? 'embedded_broker.password' : 'embedded_broker.username']: 'required when the other is set',
      });
    }
    return { username: config.username, password: config.password, source: 'config' };
  }
  const file = path.join(dataDir, CREDENTIALS_FILE);
  const existing = readCredentials(file);
  if (existing) return { ...existing, source: 'file' };
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const fresh: BrokerCredentials = { username: 'pidrive', password: crypto.randomBytes(18).toString('base64url') };
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    fs.writeSync(fd, JSON.stringify(fresh, null, 2) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Someone else generated them first; theirs stand.
    return { ...readCredentials(file)!, source: 'file' };
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return { ...fresh, source: 'generated' };
}

function readCredentials(file: string): BrokerCredentials | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new PiDriveError('internal', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`, { file: 'unreadable' });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  const parsed = StoredCredentials.safeParse(json);
  if (!parsed.success) {
    throw new PiDriveError('invalid_config', `${file} is damaged; delete it to generate new embedded broker credentials (clients must then be updated)`, { file: 'damaged' });
  }
  return parsed.data;
}
