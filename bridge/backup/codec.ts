import type zlibModule from 'node:zlib';

type Zlib = typeof zlibModule;

/*
 * The chunk codec. These functions use nothing but their parameters and globals, because worker
 * threads receive them as source text (see worker-pool.ts): that keeps one implementation and
 * survives bundling. Byte 0 is the codec (0 raw, 1 zstd level 3); zstd is kept only when it saves
 * at least 3 %. The literals mirror CODEC_RAW, CODEC_ZSTD, ZSTD_LEVEL and MIN_SAVING in format.ts.
 */

/** Encodes `plain` into `out` (at least plain.length + 1 bytes); returns the stored length. */
export function encodeChunkInto(zlib: Zlib, plain: Uint8Array, out: Uint8Array): number {
  // One output buffer (no concatenation of 16 KiB pieces): less garbage per block.
  const packed = zlib.zstdCompressSync(plain, { chunkSize: plain.length + 65536, params: { [zlib.constants.ZSTD_c_compressionLevel]: 3 } });
  if (packed.length <= plain.length * 0.97) {
    out[0] = 1;
    out.set(packed, 1);
    return packed.length + 1;
  }
  out[0] = 0;
  out.set(plain, 1);
  return plain.length + 1;
}

/** Decodes a stored object into `out`; returns the plain length. */
export function decodeChunkInto(zlib: Zlib, stored: Uint8Array, out: Uint8Array): number {
  if (stored.length < 1) throw new Error('empty object');
  const body = stored.subarray(1);
  if (stored[0] === 0) {
    if (body.length > out.length) throw new Error('raw chunk larger than a block');
    out.set(body);
    return body.length;
  }
  if (stored[0] === 1) {
    const plain = zlib.zstdDecompressSync(body, { maxOutputLength: Math.max(1, out.length) });
    out.set(plain);
    return plain.length;
  }
  throw new Error(`unknown codec ${stored[0]}`);
}
