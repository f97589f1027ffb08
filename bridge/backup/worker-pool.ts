import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { decodeChunkInto, encodeChunkInto } from './codec.ts';

/**
 * Hashing, compression and decompression off the event loop, on every core. The worker's code is
 * sent as source text (eval) so it runs the same from the TypeScript sources and from the bundle.
 *
 * Memory: blocks travel in a fixed set of slots (a block buffer and an output buffer each) that
 * move between threads without copying and come back; nothing per block is allocated in one
 * thread and freed in another. That keeps the peak RSS flat whatever the image size, and saves
 * the page faults and cross-thread frees that otherwise cost more CPU than hashing.
 */

/** A sorted set of 32-byte ids shared (not copied) with every worker. */
export interface SharedIdSet {
  buffer: SharedArrayBuffer;
  count: number;
}

/** `block` holds plain data (blockSize bytes), `out` stored data (blockSize + 1 bytes). */
export interface Slot {
  block: Buffer;
  out: Buffer;
}

export type ChunkResult = { id: string; known: true } | { id: string; known: false; stored: Buffer; raw: boolean };
export type DecodeResult = { ok: true; plain: Buffer } | { ok: false; problem: 'unreadable' | 'hash_mismatch'; detail: string };

type Reply = { seq: number; block: ArrayBuffer; out: ArrayBuffer; error?: string } & Record<string, unknown>;

function workerBody(
  port: import('node:worker_threads').MessagePort,
  data: { known: SharedArrayBuffer | null; knownCount: number },
  zlib: typeof import('node:zlib'),
  crypto: typeof import('node:crypto'),
  encodeInto: (z: typeof import('node:zlib'), plain: Uint8Array, out: Uint8Array) => number,
  decodeInto: (z: typeof import('node:zlib'), stored: Uint8Array, out: Uint8Array) => number,
  gc: (() => void) | null,
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
  // zlib leaves a block's worth of garbage per call; V8 would let tens of MiB pile up per thread.
  let sinceGc = 0;
  const collect = (bytes: number): void => {
    sinceGc += bytes;
    if (gc && sinceGc >= 8 * 1024 * 1024) {
      sinceGc = 0;
      gc();
    }
  };
  port.on('message', (m: { seq: number; op: string; block: ArrayBuffer; out: ArrayBuffer; len: number; id?: string }) => {
    const block = Buffer.from(m.block);
    const out = Buffer.from(m.out);
    const reply = (fields: Record<string, unknown>): void => port.postMessage({ seq: m.seq, block: m.block, out: m.out, ...fields }, [m.block, m.out]);
    try {
      if (m.op === 'chunk') {
        const plain = block.subarray(0, m.len);
        const digest = crypto.createHash('sha256').update(plain).digest();
        if (isKnown(digest)) return reply({ id: digest.toString('hex'), known: true });
        const stored = encodeInto(zlib, plain, out);
        collect(m.len);
        reply({ id: digest.toString('hex'), known: false, stored, raw: out[0] === 0 });
      } else if (m.op === 'decode') {
        let n: number;
        try {
          n = decodeInto(zlib, out.subarray(0, m.len), block);
        } catch (err) {
          return reply({ ok: false, problem: 'unreadable', detail: (err as Error).message });
        }
        collect(n);
        const id = crypto.createHash('sha256').update(block.subarray(0, n)).digest('hex');
        if (id !== m.id) return reply({ ok: false, problem: 'hash_mismatch', detail: `content hashes to ${id}` });
        reply({ ok: true, plain: n });
      } else if (m.op === 'hash') {
        reply({ id: crypto.createHash('sha256').update(block.subarray(0, m.len)).digest('hex') });
      } else throw new Error(`unknown op ${m.op}`);
    } catch (err) {
      reply({ error: (err as Error).message });
    }
  });
}

const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const encodeChunkInto = ${encodeChunkInto.toString()};
const decodeChunkInto = ${decodeChunkInto.toString()};
const collectGarbage = (() => {
  if (typeof globalThis.gc === 'function') return globalThis.gc;
  try {
    require('node:v8').setFlagsFromString('--expose-gc');
    return require('node:vm').runInNewContext('gc');
  } catch {
    return null;
  }
})();
(${workerBody.toString()})(parentPort, workerData, require('node:zlib'), require('node:crypto'), encodeChunkInto, decodeChunkInto, collectGarbage);
`;

export function defaultWorkers(configured = 0): number {
  return configured > 0 ? configured : os.availableParallelism();
}

interface Pending {
  slot: Slot;
  worker: WorkerSlot;
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
}

interface WorkerSlot {
  worker: Worker;
  busy: number;
}

export class WorkerPool {
  readonly #workers: WorkerSlot[] = [];
  readonly #pending = new Map<number, Pending>();
  readonly #queue: Array<{ msg: Record<string, unknown>; p: Omit<Pending, 'worker'> }> = [];
  readonly #free: Slot[] = [];
  readonly #waiting: Array<(slot: Slot) => void> = [];
  readonly slots: number;
  #seq = 0;
  #failed: Error | null = null;

  /** `slots` blocks of `blockSize` can be in flight at once: that is the memory bound. */
  constructor(options: { workers: number; blockSize: number; slots: number; known?: SharedIdSet | null }) {
    for (let i = 0; i < Math.max(1, options.workers); i++) {
      const worker = new Worker(SOURCE, { eval: true, workerData: { known: options.known?.buffer ?? null, knownCount: options.known?.count ?? 0 } });
      const w: WorkerSlot = { worker, busy: 0 };
      worker.on('message', (r: Reply) => this.#reply(w, r));
      worker.on('error', (err) => this.#fail(err));
      worker.on('exit', (code) => {
        if (code !== 0) this.#fail(new Error(`a backup worker thread exited with code ${code}`));
      });
      this.#workers.push(w);
    }
    this.slots = Math.max(1, options.slots);
    for (let i = 0; i < this.slots; i++) {
      this.#free.push({ block: Buffer.from(new ArrayBuffer(options.blockSize)), out: Buffer.from(new ArrayBuffer(options.blockSize + 1)) });
    }
  }

  get size(): number {
    return this.#workers.length;
  }

  acquire(): Promise<Slot> {
    const slot = this.#free.pop();
    if (slot) return Promise.resolve(slot);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  release(slot: Slot): void {
    const next = this.#waiting.shift();
    if (next) next(slot);
    else this.#free.push(slot);
  }

  /** Hashes slot.block[0, len); compresses it into slot.out unless the id is in the known set. */
  async chunk(slot: Slot, len: number): Promise<ChunkResult> {
    const r = await this.#run(slot, { op: 'chunk', len });
    if (r.known) return { id: r.id as string, known: true };
    return { id: r.id as string, known: false, stored: slot.out.subarray(0, r.stored as number), raw: r.raw as boolean };
  }

  /** Decodes slot.out[0, storedLen) into slot.block and checks it against `id`. */
  async decode(slot: Slot, storedLen: number, id: string): Promise<DecodeResult> {
    const r = await this.#run(slot, { op: 'decode', len: storedLen, id });
    if (r.ok) return { ok: true, plain: slot.block.subarray(0, r.plain as number) };
    return { ok: false, problem: r.problem as 'unreadable' | 'hash_mismatch', detail: r.detail as string };
  }

  async hash(slot: Slot, len: number): Promise<string> {
    return (await this.#run(slot, { op: 'hash', len })).id as string;
  }

  #run(slot: Slot, msg: Record<string, unknown>): Promise<Reply> {
    if (this.#failed) return Promise.reject(this.#failed);
    return new Promise((resolve, reject) => {
      this.#queue.push({ msg, p: { slot, resolve, reject } });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      const w = this.#workers.reduce((a, b) => (b.busy < a.busy ? b : a));
      if (w.busy >= 2) return;
      const job = this.#queue.shift()!;
      const seq = ++this.#seq;
      w.busy++;
      this.#pending.set(seq, { ...job.p, worker: w });
      const block = job.p.slot.block.buffer as ArrayBuffer;
      const out = job.p.slot.out.buffer as ArrayBuffer;
      w.worker.postMessage({ ...job.msg, seq, block, out }, [block, out]);
    }
  }

  #reply(w: WorkerSlot, r: Reply): void {
    const p = this.#pending.get(r.seq);
    if (!p) return;
    this.#pending.delete(r.seq);
    w.busy--;
    p.slot.block = Buffer.from(r.block);
    p.slot.out = Buffer.from(r.out);
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
    await Promise.all(this.#workers.map((w) => w.worker.terminate()));
  }
}
