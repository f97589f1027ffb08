import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PiDriveError } from '../core/errors.ts';
import { FolderStore } from './folder-store.ts';
import type { ObjectStore } from './object-store.ts';
import { Repository } from './repository.ts';
import { S3Store, type S3Options } from './s3-store.ts';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export type ParsedRepoUrl =
  | { kind: 'folder'; path: string }
  | ({ kind: 's3' } & Omit<S3Options, 'credentials' | 'concurrency'>);

const S3_PARAMS = new Set(['endpoint', 'region', 'path_style', 'checksums']);

function bad(message: string): PiDriveError {
  return new PiDriveError('bad_request', message, { url: message });
}

/**
 * `file:///srv/backups` or
 * `s3://bucket/prefix?endpoint=http://nas:9000&region=us-east-1&path_style=true&checksums=when_required`.
 * With an endpoint (anything not AWS) path-style URLs and WHEN_REQUIRED checksums are the defaults.
 */
export function parseRepoUrl(url: string): ParsedRepoUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad('must be a URL: file:///path or s3://bucket/prefix?endpoint=...');
  }
  if (u.protocol === 'file:') {
    if (u.search || u.hash) throw bad('a file:// URL takes no query or fragment');
    if (u.host && u.host !== 'localhost') throw bad('a file:// URL names a local path: file:///path');
    const p = fileURLToPath(u);
    if (p === path.parse(p).root) throw bad('refusing the filesystem root as a repository');
    return { kind: 'folder', path: p };
  }
  if (u.protocol === 's3:') {
    const bucket = u.hostname;
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw bad('the bucket name (s3://BUCKET/...) must be 3-63 lowercase letters, digits, dots or dashes');
    const prefix = decodeURIComponent(u.pathname).replace(/^\/+|\/+$/g, '');
    if (prefix && prefix.split('/').some((p) => p === '' || p === '.' || p === '..')) throw bad('the prefix must not contain empty, "." or ".." parts');
    for (const key of u.searchParams.keys()) if (!S3_PARAMS.has(key)) throw bad(`unknown parameter "${key}" (known: ${[...S3_PARAMS].join(', ')})`);
    const endpoint = u.searchParams.get('endpoint') ?? undefined;
    if (endpoint !== undefined) {
      let e: URL;
      try {
        e = new URL(endpoint);
      } catch {
        throw bad('endpoint must be a URL like http://nas:9000');
      }
      if (e.protocol !== 'http:' && e.protocol !== 'https:') throw bad('endpoint must start with http:// or https://');
    }
    const flag = (name: string, fallback: boolean): boolean => {
      const v = u.searchParams.get(name);
      if (v === null) return fallback;
      if (v === 'true' || v === 'false') return v === 'true';
      throw bad(`${name} must be true or false`);
    };
    const checksums = u.searchParams.get('checksums') ?? (endpoint ? 'when_required' : 'when_supported');
    if (checksums !== 'when_required' && checksums !== 'when_supported') throw bad('checksums must be when_required or when_supported');
    return {
      kind: 's3',
      bucket,
      prefix,
      endpoint,
      region: u.searchParams.get('region') ?? 'us-east-1',
      pathStyle: flag('path_style', endpoint !== undefined),
      checksums,
    };
  }
  throw bad('must start with file:// or s3://');
}

/** Without explicit credentials the SDK's usual chain applies (AWS_ACCESS_KEY_ID, ~/.aws, ...). */
export function openObjectStore(url: string, credentials?: Credentials): ObjectStore {
  const parsed = parseRepoUrl(url);
  if (parsed.kind === 'folder') return new FolderStore(parsed.path);
  const { kind: _kind, ...s3 } = parsed;
  return new S3Store({ ...s3, credentials, concurrency: 8 });
}

/** Opens the repository at `url`; with `create`, makes one there when there is none yet. */
export async function openRepository(url: string, options: { credentials?: Credentials; create?: { blockSize: number } } = {}): Promise<Repository> {
  const store = openObjectStore(url, options.credentials);
  try {
    return await Repository.open(store, options.create ? { create: options.create } : {});
  } catch (err) {
    await store.close();
    throw err;
  }
}
