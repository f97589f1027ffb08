import crypto from 'node:crypto';

/**
 * Seeded randomness for benchmark workloads and fuzz tests. Bulk bytes come from an AES-256-CTR keystream (GB/s, and
 * the same bytes on every machine for the same label); small decisions (offsets, picks) from
 * mulberry32, so the seeds of the reference protocol (12345, 777) keep their meaning.
 */
export function byteStream(label: string): (length: number) => Buffer {
  const key = crypto.createHash('sha256').update(`pidrive-bench:${label}`).digest();
  const cipher = crypto.createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return (length) => cipher.update(Buffer.alloc(length));
}

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [0, n). */
export function pick(rand: () => number, n: number): number {
  return Math.floor(rand() * n);
}
