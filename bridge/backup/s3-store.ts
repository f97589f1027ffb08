import http from 'node:http';
import https from 'node:https';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { checkKey, ObjectNotFound, type ObjectInfo, type ObjectStore } from './object-store.ts';

export interface S3Options {
  bucket: string;
  /** Key prefix inside the bucket, without a trailing slash ('' for the bucket root). */
  prefix: string;
  endpoint: string | undefined;
  region: string;
  /** MinIO, Garage, SeaweedFS and s3rver want path-style URLs. */
  pathStyle: boolean;
  /** 'when_required' for non-AWS endpoints: the SDK's default CRC32 checksums break several of them. */
  checksums: 'when_required' | 'when_supported';
  credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
  /** Parallel requests; also the keep-alive socket pool size. */
  concurrency: number;
  /** Keys per ListObjectsV2 page (S3 caps it at 1000). */
  pageSize?: number;
}

/**
 * A repository in an S3-compatible bucket. A PutObject is atomic by S3's semantics, so no temporary
 * names are needed; PUTs are durable once acknowledged (flush is a no-op). No conditional writes
 * are relied upon (many S3-compatible servers ignore If-None-Match).
 */
export class S3Store implements ObjectStore {
  readonly kind = 's3' as const;
  readonly location: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #pageSize: number;

  constructor(options: S3Options) {
    this.#bucket = options.bucket;
    this.#prefix = options.prefix ? `${options.prefix}/` : '';
    this.#pageSize = options.pageSize ?? 1000;
    this.location = `s3://${options.bucket}/${options.prefix}${options.endpoint ? ` at ${options.endpoint}` : ''}`;
    const agent = { keepAlive: true, maxSockets: options.concurrency };
    const checksum = options.checksums === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
    this.#client = new S3Client({
      region: options.region,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      forcePathStyle: options.pathStyle,
      requestChecksumCalculation: checksum,
      responseChecksumValidation: checksum,
      ...(options.credentials ? { credentials: options.credentials } : {}),
      requestHandler: { httpAgent: new http.Agent(agent), httpsAgent: new https.Agent(agent) },
      maxAttempts: 4,
    });
  }

  #key(key: string): string {
    checkKey(key);
    return this.#prefix + key;
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    await this.#client.send(new PutObjectCommand({ Bucket: this.#bucket, Key: this.#key(key), Body: data, ContentLength: data.length }));
  }

  async get(key: string): Promise<Buffer> {
    try {
      const res = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }));
      return Buffer.from(await res.Body!.transformToByteArray());
    } catch (err) {
      if (isNotFound(err)) throw new ObjectNotFound(key);
      throw err;
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const res = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }));
      return { key, size: res.ContentLength ?? 0, mtime: res.LastModified ?? new Date(0) };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const res = await this.#client.send(
        new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: this.#prefix + prefix, MaxKeys: this.#pageSize, ContinuationToken: token }),
      );
      for (const o of res.Contents ?? []) {
        if (!o.Key) continue;
        yield { key: o.Key.slice(this.#prefix.length), size: o.Size ?? 0, mtime: o.LastModified ?? new Date(0) };
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000).map((k) => ({ Key: this.#key(k) }));
      const res = await this.#client.send(new DeleteObjectsCommand({ Bucket: this.#bucket, Delete: { Objects: batch, Quiet: true } }));
      const failed = (res.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length) throw new Error(`S3 refused to delete ${failed.length} object(s): ${failed[0]!.Code} ${failed[0]!.Message ?? ''}`.trim());
    }
  }

  async flush(): Promise<void> {}

  async removeLeftovers(): Promise<number> {
    return 0;
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }
}

function isNotFound(err: unknown): boolean {
  if (err instanceof S3ServiceException) return err.name === 'NoSuchKey' || err.name === 'NotFound' || err.$metadata?.httpStatusCode === 404;
  return false;
}
