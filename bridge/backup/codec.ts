import type zlibModule from 'node:zlib';

type Zlib = typeof zlibModule;

/*
 * The chunk codec. These functions use nothing but their parameters and globals, because worker
 * threads receive them as source text (see worker-pool.ts): that keeps one implementation and
 * survives bundling. Byte 0 is the codec (0 raw, 1 zstd level 1); zstd is kept only when it saves
 * at least 3 %. The literals mirror CODEC_RAW, CODEC_ZSTD, ZSTD_LEVEL and MIN_SAVING in format.ts.
 */

export function encodeChunk(zlib: Zlib, plain: Uint8Array): Buffer {
  const packed = zlib.zstdCompressSync(plain, { params: { [zlib.constants.ZSTD_c_compressionLevel]: 1 } });
  if (packed.length <= plain.length * 0.97) {
    const out = Buffer.allocUnsafe(packed.length + 1);
    out[0] = 1;
    packed.copy(out, 1);
    return out;
  }
  const out = Buffer.allocUnsafe(plain.length + 1);
  out[0] = 0;
  out.set(plain, 1);
  return out;
}

export function decodeChunk(zlib: Zlib, stored: Uint8Array, maxBytes: number): Buffer {
  if (stored.length < 1) throw new Error('empty object');
  const body = Buffer.from(stored.buffer, stored.byteOffset + 1, stored.length - 1);
  if (stored[0] === 0) return Buffer.from(body);
  if (stored[0] === 1) return zlib.zstdDecompressSync(body, { maxOutputLength: Math.max(1, maxBytes) });
  throw new Error(`unknown codec ${stored[0]}`);
}
