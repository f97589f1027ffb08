import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import type { TestContext } from 'node:test';
import { allocatedBytes } from '../../../bridge/core/sparse.ts';

export const MiB = 1024 * 1024;

/** Deterministic pseudo-random bytes (AES-CTR keystream): the same seed gives the same data. */
export function randomBytes(seed: string, length: number): Buffer {
  const key = crypto.createHash('sha256').update(seed).digest();
  const cipher = crypto.createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return cipher.update(Buffer.alloc(length));
}

/** Compressible text-like bytes (zstd shrinks them several times). */
export function textBytes(seed: string, length: number): Buffer {
  const words = randomBytes(seed, 4096).toString('base64').match(/.{1,7}/g)!;
  const out: string[] = [];
  let n = 0;
  for (let i = 0; n < length; i++) {
    const w = words[(i * 7919) % words.length]!;
    out.push(w, i % 13 === 0 ? '\n' : ' ');
    n += w.length + 1;
  }
  return Buffer.from(out.join('').slice(0, length));
}

export function writeAt(file: string, offset: number, data: Buffer): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, data, 0, data.length, offset);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A sparse raw image with scattered data: random (incompressible) and text (compressible) extents,
 * some not aligned to blocks, and one straddling a block boundary.
 */
export function makeImage(file: string, sizeBytes: number, seed: string): void {
  fs.writeFileSync(file, '');
  fs.truncateSync(file, sizeBytes);
  writeAt(file, 0, textBytes(`${seed}-boot`, 64 * 1024));
  writeAt(file, 3 * MiB + 12_288, randomBytes(`${seed}-a`, 5 * MiB));
  writeAt(file, 20 * MiB - 8192, textBytes(`${seed}-b`, 3 * MiB));
  writeAt(file, 40 * MiB, randomBytes(`${seed}-c`, 2 * MiB));
  writeAt(file, 40 * MiB + 4 * MiB, Buffer.alloc(MiB)); // an allocated block of zeros
  writeAt(file, sizeBytes - 3 * MiB - 4096, textBytes(`${seed}-tail`, 3 * MiB + 4096));
}

/** ~6 MiB of changes: rewrites inside data, new data in a hole, one block zeroed. */
export function modifyImage(file: string, seed: string): void {
  writeAt(file, 3 * MiB + 65_536, randomBytes(`${seed}-m1`, 64 * 1024));
  writeAt(file, 21 * MiB, textBytes(`${seed}-m2`, MiB));
  writeAt(file, 60 * MiB + 4096, randomBytes(`${seed}-m3`, 4 * MiB));
  writeAt(file, 40 * MiB, Buffer.alloc(MiB));
}

export function sameBytes(a: string, b: string): boolean {
  try {
    execFileSync('cmp', ['-s', a, b]);
    return true;
  } catch {
    return false;
  }
}

/** Restored images must be sparse: no more allocated than the source (plus a little metadata). */
export function isSparseLike(restored: string, source: string): boolean {
  return allocatedBytes(restored) <= allocatedBytes(source) + 64 * 1024;
}

export interface S3rverProcess {
  endpoint: string;
  url(prefix: string): string;
  stop(): Promise<void>;
}

/** s3rver in a child process, stopped when the test ends. */
export async function startS3rver(t: TestContext, dir: string): Promise<S3rverProcess> {
  const child: ChildProcess = spawn(process.execPath, ['--openssl-legacy-provider', path.join(import.meta.dirname, 's3rver-main.ts'), dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout! });
    rl.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  t.after(stop);
  const endpoint = `http://127.0.0.1:${port}`;
  return { endpoint, url: (prefix) => `s3://backups/${prefix}?endpoint=${encodeURIComponent(endpoint)}`, stop };
}

export const S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
