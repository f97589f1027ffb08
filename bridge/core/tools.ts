import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PiDriveError } from './errors.ts';

/** System tools the bridge runs, and the Debian package that provides each. */
const PACKAGES: Record<string, string> = {
  'mkfs.vfat': 'dosfstools',
  'fsck.vfat': 'dosfstools',
  fatlabel: 'dosfstools',
  'mkfs.exfat': 'exfatprogs',
  'fsck.exfat': 'exfatprogs',
  exfatlabel: 'exfatprogs',
  blkid: 'util-linux',
};

export function toolPath(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** Runs a tool with an argument array (never a shell); a failure carries the tool's own words. */
export async function runTool(name: string, args: readonly string[], options: { signal?: AbortSignal } = {}): Promise<string> {
  const bin = toolPath(name);
  if (!bin) {
    const pkg = PACKAGES[name];
    throw new PiDriveError('missing_tool', `${name} is not installed${pkg ? `; install the Debian package ${pkg} (apt-get install ${pkg})` : ''}`);
  }
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], signal: options.signal });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new PiDriveError('internal', `${name} failed (exit ${code}): ${(err || out).trim().split('\n').slice(-3).join(' ')}`));
    });
  });
}
