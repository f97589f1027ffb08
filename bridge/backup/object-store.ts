/**
 * The one small interface every repository target implements (a folder on local disk, NAS or USB
 * disk; an S3-compatible bucket). Keys are relative, '/'-separated, made only by format.ts.
 */
export interface ObjectInfo {
  key: string;
  size: number;
  mtime: Date;
}

export interface ObjectStore {
  readonly kind: 'folder' | 's3';
  /** Where it is, for messages (never holds credentials). */
  readonly location: string;
  /** Whole-object and atomic: a reader sees the old object, the new one or none, never a part. */
  put(key: string, data: Uint8Array): Promise<void>;
  /**
   * Throws ObjectNotFound when the key does not exist. With `into` (big enough for the object) the
   * bytes may land there, sparing an allocation per chunk; the result is then a view of `into`.
   */
  get(key: string, into?: Buffer): Promise<Buffer>;
  head(key: string): Promise<ObjectInfo | null>;
  /** Every object whose key starts with `prefix`, in no particular order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  delete(keys: readonly string[]): Promise<void>;
  /** Makes every put so far durable before something that refers to it is written. */
  flush(): Promise<void>;
  /** Deletes what interrupted puts left behind, if older than `before`; returns how many. */
  removeLeftovers(before: Date): Promise<number>;
  close(): Promise<void>;
}

export class ObjectNotFound extends Error {
  readonly key: string;

  constructor(key: string) {
    super(`object ${key} does not exist`);
    this.name = 'ObjectNotFound';
    this.key = key;
  }
}

/** Refuses keys that could leave the repository (they are made internally; this is the backstop). */
export function checkKey(key: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(key) || key.split('/').some((p) => p === '' || p === '.' || p === '..')) {
    throw new Error(`invalid object key ${JSON.stringify(key)}`);
  }
}
