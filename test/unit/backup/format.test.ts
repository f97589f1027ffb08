import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';
import { dataBlocks } from '../../../bridge/backup/backup-image.ts';
import {
  BlockIndex,
  BlockIndexBuilder,
  chunkIdFromKey,
  chunkKey,
  CODEC_RAW,
  CODEC_ZSTD,
  decodeObject,
  encodeObject,
  indexKey,
  manifestKey,
  newSnapshotId,
  parseSnapshotKey,
} from '../../../bridge/backup/format.ts';
import { checkKey } from '../../../bridge/backup/object-store.ts';
import { SnapshotId } from '../../../bridge/backup/types.ts';

test('compressible blocks are stored as zstd, incompressible ones raw; both decode to the original', () => {
  const text = Buffer.from('PiDrive turns a Raspberry Pi into a rack of virtual USB drives. '.repeat(16_384));
  const packed = encodeObject(text);
  assert.equal(packed[0], CODEC_ZSTD);
  assert.ok(packed.length < text.length / 10);
  assert.deepEqual(decodeObject(packed, text.length), text);

  const noise = crypto.randomBytes(1 << 20);
  const raw = encodeObject(noise);
  assert.equal(raw[0], CODEC_RAW);
  assert.equal(raw.length, noise.length + 1);
  assert.deepEqual(decodeObject(raw, noise.length), noise);
});

test('decoding refuses an unknown codec and a zstd frame larger than a block', () => {
  assert.throws(() => decodeObject(Buffer.from([7, 1, 2, 3]), 16), /unknown codec 7/);
  const big = encodeObject(Buffer.alloc(1 << 20, 0x41));
  assert.throws(() => decodeObject(big, 1024));
});

test('the block index round-trips, finds blocks by number, and refuses a mismatching length', () => {
  const b = new BlockIndexBuilder(1 << 20, 1);
  const ids = [3, 7, 8, 1000].map((n) => crypto.hash('sha256', String(n), 'buffer'));
  [3, 7, 8, 1000].forEach((block, i) => b.add(block, ids[i]!, 100 + i));
  assert.throws(() => b.add(1000, ids[0]!, 1), /ascend/);
  const stored = b.build().encode();
  const index = BlockIndex.decode(stored, 4);
  assert.equal(index.count, 4);
  assert.equal(index.blockSize, 1 << 20);
  assert.equal(index.find(8), 2);
  assert.equal(index.find(9), -1);
  assert.deepEqual(index.id(3), ids[3]);
  assert.equal(index.stored(1), 101);
  assert.throws(() => BlockIndex.decode(stored, 5), /does not match/);
});

test('keys: chunks fan out by their first byte; snapshot keys parse back; odd keys are refused', () => {
  const id = 'ab'.padEnd(64, '0');
  assert.equal(chunkKey(id), `chunks/ab/${id}`);
  assert.equal(chunkIdFromKey(chunkKey(id)), id);
  assert.equal(chunkIdFromKey('chunks/ab/.tmp-x'), null);
  const snap = newSnapshotId(new Date('2025-03-04T05:06:07.890Z'));
  assert.match(snap, /^20250304T050607Z-[0-9a-f]{6}$/);
  assert.ok(SnapshotId.safeParse(snap).success);
  assert.deepEqual(parseSnapshotKey(manifestKey('cam', snap)), { drive: 'cam', snapshot: snap, kind: 'manifest' });
  assert.deepEqual(parseSnapshotKey(indexKey('cam', snap)), { drive: 'cam', snapshot: snap, kind: 'index' });
  assert.equal(parseSnapshotKey('snapshots/cam/whatever.json'), null);
  for (const bad of ['../x', 'a//b', '/abs', 'a/../b', 'a/./b', '']) assert.throws(() => checkKey(bad), /invalid object key/);
});

test('data blocks: every block an extent touches, once, in order, clipped to the file size', () => {
  const MiB = 1 << 20;
  assert.deepEqual(
    dataBlocks(
      [
        { offset: 0, length: 4096 },
        { offset: 8192, length: 4096 },
        { offset: MiB - 1, length: 2 },
        { offset: 5 * MiB, length: 3 * MiB },
      ],
      MiB,
      7 * MiB + 100,
    ),
    [0, 1, 5, 6, 7],
  );
  assert.deepEqual(dataBlocks([], MiB, 10 * MiB), []);
});
