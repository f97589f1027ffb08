import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { describe, test, type TestContext } from 'node:test';
import { pathToFileURL } from 'node:url';
import { backupImage } from '../../../bridge/backup/backup-image.ts';
import { chunkIdFromKey, chunkKey, PREFIX_CHUNKS, PREFIX_SNAPSHOTS } from '../../../bridge/backup/format.ts';
import { FolderStore } from '../../../bridge/backup/folder-store.ts';
import type { ObjectStore } from '../../../bridge/backup/object-store.ts';
import { pruneRepository } from '../../../bridge/backup/prune.ts';
import { parseRepoUrl } from '../../../bridge/backup/repo-url.ts';
import { Repository } from '../../../bridge/backup/repository.ts';
import { restoreSnapshot } from '../../../bridge/backup/restore.ts';
import { S3Store } from '../../../bridge/backup/s3-store.ts';
import { verifyRepository } from '../../../bridge/backup/verify.ts';
import { requireTool, tempDir } from '../../helpers/tools.ts';
import { isSparseLike, makeImage, MiB, modifyImage, S3_CREDENTIALS, sameBytes, startS3rver, writeAt } from './helpers.ts';

const IMAGE_SIZE = 128 * MiB;

interface Target {
  url: string;
  store(): ObjectStore;
}

type TargetFactory = (t: TestContext, dir: string) => Promise<Target>;

const TARGETS: Record<string, TargetFactory> = {
  folder: async (_t, dir) => {
    const root = path.join(dir, 'repo');
    return { url: pathToFileURL(root).href, store: () => new FolderStore(root) };
  },
  // A small page size makes every listing paginate, as a real bucket with thousands of chunks does.
  s3: async (t, dir) => {
    const server = await startS3rver(t, path.join(dir, 's3'));
    const prefix = `t-${crypto.randomBytes(3).toString('hex')}`;
    const url = server.url(prefix);
    const parsed = parseRepoUrl(url);
    assert.equal(parsed.kind, 's3');
    return {
      url,
      store: () => new S3Store({ ...(parsed as Extract<typeof parsed, { kind: 's3' }>), credentials: S3_CREDENTIALS, concurrency: 8, pageSize: 7 }),
    };
  },
};

async function open(target: Target, t: TestContext): Promise<Repository> {
  const repo = await Repository.open(target.store(), { create: { blockSize: MiB } });
  t.after(() => repo.close());
  return repo;
}

async function keys(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out.sort();
}

/** Distinct non-zero 1 MiB blocks of a file, by content hash, and the hash of each block position. */
function blockHashes(file: string): Map<number, string> {
  const out = new Map<number, string>();
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(MiB);
  const zero = Buffer.alloc(MiB);
  try {
    for (let b = 0; ; b++) {
      const n = fs.readSync(fd, buf, 0, MiB, b * MiB);
      if (n === 0) break;
      const block = buf.subarray(0, n);
      if (!block.equals(zero.subarray(0, n))) out.set(b, crypto.hash('sha256', block));
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/** Runs the backup in a child process and SIGKILLs it when `when` says so; resolves with what it printed. */
function backupKilledAt(url: string, image: string, drive: string, when: (p: { phase: string; done: number; total: number }) => boolean): Promise<{ killed: boolean; lines: string[] }> {
  const child = spawn(process.execPath, [path.join(import.meta.dirname, 'backup-child.ts'), url, image, drive], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let killed = false;
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    const p = JSON.parse(line) as { phase?: string; done: number; total: number };
    if (!killed && p.phase && when(p as { phase: string; done: number; total: number })) {
      killed = true;
      child.kill('SIGKILL');
    }
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) =>
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL' || code === 0) resolve({ killed: signal === 'SIGKILL', lines });
      else reject(new Error(`backup child failed (${code}): ${stderr}`));
    }),
  );
}

for (const [name, makeTarget] of Object.entries(TARGETS)) {
  /** A new repository on this target and a 128 MiB image whose content `seed` picks. */
  const newRepo = async (t: TestContext, seed: string) => {
    const dir = tempDir(t);
    const target = await makeTarget(t, dir);
    const repo = await open(target, t);
    const image = path.join(dir, 'drive.img');
    makeImage(image, IMAGE_SIZE, seed);
    return { dir, target, repo, image };
  };

  describe(`backup repository on a ${name} target`, { concurrency: false }, () => {
    test('backup, modify, backup: every snapshot restores byte-identical and sparse; an unchanged image adds nothing', async (t) => {
      if (!requireTool(t, 'cmp')) return;
      const { dir, repo, image } = await newRepo(t, 'v1');
      const v1 = path.join(dir, 'v1.img');
      fs.copyFileSync(image, v1);
      const blocksV1 = blockHashes(image);

      const s1 = await backupImage({ repo, imagePath: image, driveId: 'cam' });
      assert.equal(s1.stats.data_blocks, blocksV1.size);
      assert.equal(s1.stats.new_chunks, new Set(blocksV1.values()).size);
      assert.equal(s1.stats.changed_blocks, blocksV1.size, 'a first snapshot changes every data block');
      assert.ok(s1.stats.new_bytes < s1.stats.data_bytes, 'compressible blocks are stored compressed');
      assert.ok(s1.stats.read_bytes < 24 * MiB, `only data extents are read (read ${s1.stats.read_bytes})`);
      const chunksAfter1 = await keys(repo.store, PREFIX_CHUNKS);
      assert.equal(chunksAfter1.length, s1.stats.new_chunks);

      const s2 = await backupImage({ repo, imagePath: image, driveId: 'cam' });
      assert.equal(s2.parent, s1.id);
      assert.equal(s2.stats.new_chunks, 0);
      assert.equal(s2.stats.new_bytes, 0);
      assert.equal(s2.stats.changed_blocks, 0);
      assert.deepEqual(await keys(repo.store, PREFIX_CHUNKS), chunksAfter1, 'an unchanged image stores no new chunk');

      modifyImage(image, 'm');
      const blocksV2 = blockHashes(image);
      const positions = new Set([...blocksV1.keys(), ...blocksV2.keys()]);
      const changed = [...positions].filter((b) => blocksV1.get(b) !== blocksV2.get(b)).length;
      const s3 = await backupImage({ repo, imagePath: image, driveId: 'cam' });
      assert.equal(s3.stats.changed_blocks, changed);
      const fresh = new Set([...blocksV2.values()].filter((h) => !new Set(blocksV1.values()).has(h)));
      assert.equal(s3.stats.new_chunks, fresh.size);

      for (const [snap, expected] of [
        [s1, v1],
        [s2, v1],
        [s3, image],
      ] as const) {
        const out = path.join(dir, `restored-${snap.id}.img`);
        const r = await restoreSnapshot({ repo, manifest: snap, outputPath: out });
        assert.equal(r.size_bytes, IMAGE_SIZE);
        assert.ok(sameBytes(out, expected), `snapshot ${snap.id} restores byte-identical`);
        assert.ok(isSparseLike(out, expected), `snapshot ${snap.id} restores sparse`);
        fs.rmSync(out);
      }
      const list = (await repo.snapshots('cam')).manifests.map((m) => m.id);
      assert.deepEqual(list, [s3.id, s2.id, s1.id], 'newest first');
      assert.equal((await verifyRepository({ repo })).ok, true);
    });

    test('kill -9 during a backup: no partial snapshot, verify passes, the next backup reuses the written chunks', { timeout: 120_000 }, async (t) => {
      const { dir, target, repo, image } = await newRepo(t, 'kill');
      const base = await backupImage({ repo, imagePath: image, driveId: 'cam' });
      modifyImage(image, 'kill-2');
      // More new data, so a kill lands in the middle of uploads.
      writeAt(image, 80 * MiB, crypto.randomBytes(12 * MiB));

      const points: Array<[string, (p: { phase: string; done: number; total: number }) => boolean]> = [
        ['at the start', () => true],
        ['a third in', (p) => p.done >= p.total / 3],
        ['two thirds in', (p) => p.done >= (2 * p.total) / 3],
        ['while committing', (p) => p.phase === 'committing'],
      ];
      for (const [label, when] of points) {
        const run = await backupKilledAt(target.url, image, 'cam', when);
        assert.ok(run.killed, `the backup was killed ${label}`);
        const snaps = (await repo.snapshots('cam')).manifests.map((m) => m.id);
        assert.deepEqual(snaps, [base.id], `no partial snapshot is listed after a kill ${label}`);
        const report = await verifyRepository({ repo });
        assert.equal(report.ok, true, `verify passes after a kill ${label}: ${JSON.stringify(report.corrupt)}`);
      }
      // Stored size by chunk id: a store without atomic PUTs (s3rver) keeps a truncated object
      // from an upload the kill cut short; the next backup must replace it, not reuse it.
      const before = new Map<string, number>();
      for await (const o of repo.store.list(PREFIX_CHUNKS)) before.set(chunkIdFromKey(o.key)!, o.size);
      assert.ok(before.size > base.stats.new_chunks, 'the killed runs left chunks behind');
      const next = await backupImage({ repo, imagePath: image, driveId: 'cam' });
      const index = await repo.index(next);
      const needed = new Map(Array.from({ length: index.count }, (_, i) => [index.idHex(i), index.stored(i)]));
      const missing = [...needed].filter(([id, size]) => before.get(id) !== size).length;
      assert.equal(next.stats.new_chunks, missing, 'only chunks no killed run wrote whole are uploaded');
      assert.ok(missing < needed.size - base.stats.new_chunks, 'chunks written before the kills are reused');
      const out = path.join(dir, 'restored.img');
      await restoreSnapshot({ repo, manifest: next, outputPath: out });
      assert.ok(sameBytes(out, image));
    });

    test('a truncated or empty chunk object left by a crash is replaced, never reused', async (t) => {
      const { dir, repo, image } = await newRepo(t, 'torn');
      const blocks = [...new Set(blockHashes(image).values())];
      assert.ok(blocks.length >= 2);
      // What an interrupted upload leaves: the first bytes of an object, and a renamed empty file.
      await repo.store.put(chunkKey(blocks[0]!), Buffer.of(0, 1, 2, 3));
      await repo.store.put(chunkKey(blocks[1]!), Buffer.alloc(0));
      const snap = await backupImage({ repo, imagePath: image, driveId: 'cam' });
      assert.equal(snap.stats.new_chunks, blocks.length, 'both torn objects were uploaded again');
      const out = path.join(dir, 'restored.img');
      await restoreSnapshot({ repo, manifest: snap, outputPath: out });
      assert.ok(sameBytes(out, image), 'the snapshot restores byte-identical');
      assert.equal((await verifyRepository({ repo })).ok, true);
    });

    test('prune forgets by policy and never removes a chunk a remaining snapshot needs, also while a backup runs', { timeout: 120_000 }, async (t) => {
      const { dir, repo, image } = await newRepo(t, 'prune');
      const snaps = [];
      for (let i = 0; i < 4; i++) {
        modifyImage(image, `prune-${i}`);
        snaps.push(await backupImage({ repo, imagePath: image, driveId: 'cam' }));
      }
      const other = path.join(dir, 'other.img');
      makeImage(other, IMAGE_SIZE, 'other');
      await backupImage({ repo, imagePath: other, driveId: 'dash' });

      // An orphan chunk (a crashed backup's) survives inside the grace period and goes after it.
      const orphan = crypto.hash('sha256', 'orphan');
      await repo.store.put(chunkKey(orphan), Buffer.concat([Buffer.of(0), Buffer.from('orphan')]));
      const graced = await pruneRepository({ repo, policies: [{ keep: { last: 2 }, drives: ['cam'] }], graceMs: 3_600_000 });
      assert.deepEqual(
        graced.removed_snapshots.map((s) => s.snapshot).sort(),
        [snaps[0]!.id, snaps[1]!.id].sort(),
      );
      assert.equal(graced.kept_snapshots, 3);
      assert.ok(graced.grace_chunks >= 1, 'unreferenced chunks inside the grace period stay');
      assert.ok(await repo.store.head(chunkKey(orphan)));
      const report = await verifyRepository({ repo });
      assert.equal(report.ok, true);
      assert.equal(report.snapshots, 3);

      // A backup and a prune with no grace at once: GC waits for the backup, keeps what it wrote.
      // 48 MiB of new random data on one worker keeps the backup busy for a good while.
      modifyImage(image, 'prune-concurrent');
      writeAt(image, 64 * MiB, crypto.randomBytes(48 * MiB));
      let backupRunning!: () => void;
      const running = new Promise<void>((resolve) => (backupRunning = resolve));
      const backup = backupImage({ repo, imagePath: image, driveId: 'cam', workers: 1, onProgress: () => backupRunning() });
      const waitedFor: string[] = [];
      const prune = running.then(() => pruneRepository({ repo, policies: [{ keep: { last: 1 } }], graceMs: 0, onLockWait: (holder) => waitedFor.push(holder) }));
      const [fresh, pruned] = await Promise.all([backup, prune]);
      assert.ok(waitedFor.some((h) => h.startsWith('backup of cam')), 'garbage collection waited for the running backup');
      assert.equal(await repo.store.head(chunkKey(orphan)), null, 'an orphan past the grace period is collected');
      assert.ok(pruned.removed_chunks > 0);
      const after = await verifyRepository({ repo });
      assert.equal(after.ok, true, `verify after a concurrent prune: ${JSON.stringify(after.corrupt)}`);
      const left = (await repo.snapshots()).manifests;
      assert.ok(left.some((m) => m.id === fresh.id), 'the concurrent backup committed its snapshot');
      for (const m of left) {
        const out = path.join(dir, `r-${m.id}.img`);
        await restoreSnapshot({ repo, manifest: m, outputPath: out });
        fs.rmSync(out);
      }
    });

    test('a corrupted or missing chunk is reported by verify with every snapshot it affects', async (t) => {
      const { dir, repo, image } = await newRepo(t, 'corrupt');
      const a = await backupImage({ repo, imagePath: image, driveId: 'cam' });
      modifyImage(image, 'corrupt-2');
      const b = await backupImage({ repo, imagePath: image, driveId: 'cam' });
      const other = path.join(dir, 'other.img');
      makeImage(other, IMAGE_SIZE, 'unrelated');
      const c = await backupImage({ repo, imagePath: other, driveId: 'dash' });

      // The boot block is in both snapshots of "cam" and not in "dash".
      const ia = await repo.index(a);
      const shared = ia.idHex(ia.find(0));
      const ib = await repo.index(b);
      const onlyB = Array.from({ length: ib.count }, (_, i) => ib.idHex(i)).find((id) => !Array.from({ length: ia.count }, (_, i) => ia.idHex(i)).includes(id))!;
      const stored = await repo.store.get(chunkKey(shared));
      stored[stored.length - 10]! ^= 0x55;
      await repo.store.put(chunkKey(shared), stored);
      await repo.store.delete([chunkKey(onlyB)]);

      const report = await verifyRepository({ repo });
      assert.equal(report.ok, false);
      const bad = new Map(report.corrupt.map((c) => [c.chunk, c]));
      assert.equal(bad.size, 2);
      assert.match(bad.get(shared)!.problem, /unreadable|hash_mismatch/);
      assert.deepEqual(bad.get(shared)!.snapshots.map((s) => s.snapshot).sort(), [a.id, b.id].sort());
      assert.equal(bad.get(onlyB)!.problem, 'missing');
      assert.deepEqual(bad.get(onlyB)!.snapshots, [{ drive: 'cam', snapshot: b.id }]);
      assert.ok(!report.corrupt.some((x) => x.snapshots.some((s) => s.snapshot === c.id)));

      // A sample still finds the missing chunk (from the listing), and restore refuses cleanly.
      const sampled = await verifyRepository({ repo, samplePercent: 1 });
      assert.ok(sampled.corrupt.some((x) => x.chunk === onlyB && x.problem === 'missing'));
      await assert.rejects(restoreSnapshot({ repo, manifest: b, outputPath: path.join(dir, 'r.img') }), /cannot be restored: chunk/);
      const ok = await restoreSnapshot({ repo, manifest: c, outputPath: path.join(dir, 'c.img') });
      assert.equal(ok.size_bytes, IMAGE_SIZE);
      assert.ok((await keys(repo.store, PREFIX_SNAPSHOTS)).length === 6);
    });
  });
}
