import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { decodeChunk, encodeChunk } from './codec.ts';

/**
 * Hashing, compression and decompression off the event loop, on every core. The worker's code is
 * sent as source text (eval) so it runs the same from the TypeScript sources and from the bundle.
 */

/** A sorted set of 32-byte ids shared (not copied) with every worker. */
export interface SharedIdSet {
  buffer: SharedArrayBuffer;
  count: number;
}

export type ChunkResult = { id: string; known: true } | { id: string; known: false; stored: Buffer; raw: boolean };
export type DecodeResult = { ok: true; plain: Buffer | null } | { ok: false; problem: 'unreadable' | 'hash_mismatch'; detail: string };

type Reply = { seq: number; error?: string } & Record<string, unknown>;

function workerBody(
  port: import('node:worker_threads').MessagePort,
  data: { known: SharedArrayBuffer | null; knownCount: number },
  zlib: typeof import('node:zlib'),
  crypto: typeof import('node:crypto'),
  encode: (z: typeof import('node:zlib'), plain: Uint8Array) => Buffer,
  decode: (z: typeof import('node:zlib'), stored: Uint8Array, max: number) => Buffer,
): void {
  const known = data.known ? Buffer.from(data.known) : null;
  const isKnown = (id: Buffer): boolean => {
    if (!known) return false;
    let lo = 0;
    let hi = data.knownCount - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = Buffer.compare(known.subarray(mid * 32, mid * 32 + 32), id);
      if (c === 0) return true;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  };
  const exact = (b: Buffer): ArrayBuffer => {
    if (b.byteOffset === 0 && b.buffer.byteLength === b.length && b.buffer instanceof ArrayBuffer) return b.buffer;
    const ab = new ArrayBuffer(b.length);
    new Uint8Array(ab).set(b);
    return ab;
  };
  port.on('message', (m: { seq: number; op: string; buf: ArrayBuffer; len: number; id?: string; max?: number; keep?: boolean }) => {
    try {
      const input = Buffer.from(m.buf, 0, m.len);
      if (m.op === 'chunk') {
        const digest = crypto.createHash('sha256').update(input).digest();
        if (isKnown(digest)) {
          port.postMessage({ seq: m.seq, id: digest.toString('hex'), known: true });
          return;
        }
        const stored = exact(encode(zlib, input));
        port.postMessage({ seq: m.seq, id: digest.toString('hex'), known: false, stored, raw: new Uint8Array(stored)[0] === 0 }, [stored]);
      } else if (m.op === 'decode') {
        let plain: Buffer;
        try {
          plain = decode(zlib, input, m.max!);
        } catch (err) {
          port.postMessage({ seq: m.seq, ok: false, problem: 'unreadable', detail: (err as Error).message });
          return;
        }
        const id = crypto.createHash('sha256').update(plain).digest('hex');
        if (id !== m.id) {
          port.postMessage({ seq: m.seq, ok: false, problem: 'hash_mismatch', detail: `content hashes to ${id}` });
          return;
        }
        if (m.keep) {
          const ab = exact(plain);
          port.postMessage({ seq: m.seq, ok: true, plain: ab, len: plain.length }, [ab]);
        } else port.postMessage({ seq: m.seq, ok: true, plain: null });
      } else if (m.op === 'hash') {
        port.postMessage({ seq: m.seq, id: crypto.createHash('sha256').update(input).digest('hex') });
      } else throw new Error(`unknown op ${m.op}`);
    } catch (err) {
      port.postMessage({ seq: m.seq, error: (err as Error).message });
    }
  });
}

const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const encodeChunk = ${encodeChunk.toString()};
const decodeChunk = ${decodeChunk.toString()};
(${workerBody.toString()})(parentPort, workerData, require('node:zlib'), require('node:crypto'), encodeChunk, decodeChunk);
`;

export function defaultWorkers(configured = 0): number {
  return configured > 0 ? configured : os.availableParallelism();
}

interface Pending {
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  busy: number;
}

/** Messages wait in a queue; each worker takes two at a time so it never idles between replies. */
export class WorkerPool {
  readonly #slots: Slot[] = [];
  readonly #pending = new Map<number, Pending & { slot: Slot }>();
  readonly #queue: Array<{ msg: Record<string, unknown>; transfer: ArrayBuffer[]; p: Pending }> = [];
  #seq = 0;
  #failed: Error | null = null;

  constructor(size: number, known: SharedIdSet | null = null) {
    for (let i = 0; i < Math.max(1, size); i++) {
      const worker = new Worker(SOURCE, { eval: true, workerData: { known: known?.buffer ?? null, knownCount: known?.count ?? 0 } });
      const slot: Slot = { worker, busy: 0 };
      worker.on('message', (r: Reply) => this.#reply(slot, r));
      worker.on('error', (err) => this.#fail(err));
      worker.on('exit', (code) => {
        if (code !== 0) this.#fail(new Error(`a backup worker thread exited with code ${code}`));
      });
      this.#slots.push(slot);
    }
  }

  get size(): number {
    return this.#slots.length;
  }

  /** Hash a block; compress it unless its id is in the shared known set. Takes ownership of `block`. */
  async chunk(block: Buffer): Promise<ChunkResult> {
    const r = await this.#run({ op: 'chunk', len: block.length }, block);
    if (r.known) return { id: r.id as string, known: true };
    return { id: r.id as string, known: false, stored: Buffer.from(r.stored as ArrayBuffer), raw: r.raw as boolean };
  }

  /** Decompress and check the content against its id; `keep` returns the plain block. */
  async decode(stored: Buffer, id: string, maxBytes: number, keep: boolean): Promise<DecodeResult> {
    const r = await this.#run({ op: 'decode', len: stored.length, id, max: maxBytes, keep }, stored);
    if (r.ok) return { ok: true, plain: r.plain ? Buffer.from(r.plain as ArrayBuffer, 0, r.len as number) : null };
    return { ok: false, problem: r.problem as 'unreadable' | 'hash_mismatch', detail: r.detail as string };
  }

  async hash(block: Buffer): Promise<string> {
    return (await this.#run({ op: 'hash', len: block.length }, block)).id as string;
  }

  /** Moves the bytes to the worker without copying when `data` owns its whole ArrayBuffer. */
  #run(msg: Record<string, unknown>, data: Buffer): Promise<Reply> {
    if (this.#failed) return Promise.reject(this.#failed);
    let buf: ArrayBuffer;
    if (data.byteOffset === 0 && data.buffer.byteLength === data.length && data.buffer instanceof ArrayBuffer) buf = data.buffer;
    else {
      buf = new ArrayBuffer(data.length);
      new Uint8Array(buf).set(data);
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ msg: { ...msg, buf }, transfer: [buf], p: { resolve, reject } });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      const slot = this.#slots.reduce((a, b) => (b.busy < a.busy ? b : a));
      if (slot.busy >= 2) return;
      const job = this.#queue.shift()!;
      const seq = ++this.#seq;
      slot.busy++;
      this.#pending.set(seq, { ...job.p, slot });
      slot.worker.postMessage({ ...job.msg, seq }, job.transfer);
    }
  }

  #reply(slot: Slot, r: Reply): void {
    const p = this.#pending.get(r.seq);
    if (!p) return;
    this.#pending.delete(r.seq);
    slot.busy--;
    if (r.error) p.reject(new Error(r.error));
    else p.resolve(r);
    this.#dispatch();
  }

  #fail(err: Error): void {
    this.#failed ??= err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    for (const q of this.#queue.splice(0)) q.p.reject(err);
  }

  async close(): Promise<void> {
    this.#failed ??= new Error('worker pool closed');
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}
