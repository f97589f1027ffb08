import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { byteStream, mulberry32, pick } from '../../test/helpers/prng.ts';
import { copyExtents, imageFacts, type ImageFacts } from './image-io.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Sizes of the workloads of backup.md §10; `quick` keeps their shape at 64 MiB for the smoke test. */
export interface Scale {
  imageBytes: number;
  clips: number;
  clipBytes: number;
  docsBytes: number;
  changedClips: number;
  extents: number;
  extentBytes: number;
  writeBytes: number;
  changeShare: number;
}

export const FULL: Scale = {
  imageBytes: 8 * GiB,
  clips: 20,
  clipBytes: 32 * MiB,
  docsBytes: 50 * MiB,
  changedClips: 2,
  extents: 256,
  extentBytes: MiB,
  writeBytes: 64 * KiB,
  changeShare: 0.01,
};

export const QUICK: Scale = {
  imageBytes: 64 * MiB,
  clips: 4,
  clipBytes: 4 * MiB,
  docsBytes: 2 * MiB,
  changedClips: 1,
  extents: 16,
  extentBytes: MiB,
  writeBytes: 64 * KiB,
  changeShare: 0.01,
};

/** Bumped whenever generation changes, so a kept work dir is not reused with stale images. */
const GENERATOR = 2;
const D2_SEED = 12345;
const D2_CHANGE_SEED = 777;
/** Fixed clock for mkfs.vfat --invariant and mtools, so the same scale gives the same image bytes. */
const EPOCH = 1767225600; // 2026-01-01T00:00:00Z

export interface Dataset {
  id: 'd1' | 'd2';
  title: string;
  v1: string;
  v2: string;
  v1Facts: ImageFacts;
  v2Facts: ImageFacts;
  change: string;
}

function tool(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
}

const MTOOLS_ENV = { MTOOLS_SKIP_CHECK: '1', SOURCE_DATE_EPOCH: String(EPOCH) };

function mtools(cmd: string, image: string, args: string[]): void {
  tool(cmd, ['-i', image, ...args], MTOOLS_ENV);
}

function writeRandomFile(file: string, bytes: number, label: string): void {
  const next = byteStream(label);
  const fd = fs.openSync(file, 'w');
  try {
    for (let left = bytes; left > 0; left -= 4 * MiB) fs.writeSync(fd, next(Math.min(left, 4 * MiB)));
  } finally {
    fs.closeSync(fd);
  }
  fs.utimesSync(file, EPOCH, EPOCH);
}

/** Prose-like text (skewed word frequencies over a fixed vocabulary): compresses about like docs do. */
function vocabulary(): Buffer[] {
  const rand = mulberry32(1);
  const letters = 'etaoinshrdlcumwfgypbvkjxqz';
  return Array.from({ length: 4096 }, () => {
    const len = 2 + pick(rand, 10);
    let w = '';
    for (let i = 0; i < len; i++) w += letters[Math.floor(rand() * rand() * letters.length)];
    return Buffer.from(w);
  });
}

function writeTextFile(file: string, bytes: number, seed: number, vocab: Buffer[]): void {
  const rand = mulberry32(seed);
  const out = Buffer.allocUnsafe(bytes);
  let p = 0;
  let words = 0;
  while (p < bytes) {
    const r = rand();
    const word = vocab[Math.floor(r * r * r * vocab.length)]!;
    p += word.copy(out, p);
    if (p < bytes) out[p++] = ++words % 14 === 0 ? 0x0a : 0x20;
  }
  fs.writeFileSync(file, out);
  fs.utimesSync(file, EPOCH, EPOCH);
}

function freshImage(file: string, bytes: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.rmSync(file, { force: true });
  const fd = fs.openSync(file, 'w');
  fs.ftruncateSync(fd, bytes);
  fs.closeSync(fd);
}

function copyImage(from: string, to: string): void {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.rmSync(to, { force: true });
  copyExtents(from, to);
}

const clipName = (i: number): string => `CLIP${String(i).padStart(4, '0')}.MP4`;

/** D1: FAT32 image filled like a camera/document drive; D1': two clips replaced, one doc rewritten. */
function generateD1(dir: string, scale: Scale): Omit<Dataset, 'v1Facts' | 'v2Facts'> {
  const v1 = path.join(dir, 'd1-v1', 'drive.img');
  const v2 = path.join(dir, 'd1-v2', 'drive.img');
  const staging = path.join(dir, 'staging');
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  freshImage(v1, scale.imageBytes);
  tool('mkfs.vfat', ['-F', '32', '--invariant', '-n', 'PIDRIVE', v1], { SOURCE_DATE_EPOCH: String(EPOCH) });

  const clips: string[] = [];
  for (let i = 1; i <= scale.clips; i++) {
    const f = path.join(staging, clipName(i));
    writeRandomFile(f, scale.clipBytes, `d1-clip-${i}`);
    clips.push(f);
  }
  mtools('mmd', v1, ['::/DCIM']);
  mtools('mcopy', v1, ['-m', ...clips, '::/DCIM/']);

  // Documents: sizes log-uniform 4 KiB–2 MiB, 25 per folder, in a fixed order (mcopy -s would follow
  // readdir order, which depends on the host filesystem's hash seed).
  const vocab = vocabulary();
  const rand = mulberry32(2);
  const docs: { dir: string; name: string; bytes: number; seed: number }[] = [];
  for (let total = 0, n = 0; total < scale.docsBytes; n++) {
    const bytes = Math.min(scale.docsBytes - total, Math.round(4 * KiB * Math.pow(512, rand())));
    docs.push({ dir: `D${String(Math.floor(n / 25)).padStart(2, '0')}`, name: `DOC${String(n).padStart(5, '0')}.TXT`, bytes, seed: 1000 + n });
    total += bytes;
  }
  const folders = [...new Set(docs.map((d) => d.dir))];
  mtools('mmd', v1, ['::/DOCS', ...folders.map((f) => `::/DOCS/${f}`)]);
  for (const folder of folders) {
    fs.mkdirSync(path.join(staging, folder));
    const files = docs.filter((d) => d.dir === folder).map((d) => {
      const f = path.join(staging, folder, d.name);
      writeTextFile(f, d.bytes, d.seed, vocab);
      return f;
    });
    mtools('mcopy', v1, ['-m', ...files, `::/DOCS/${folder}/`]);
  }

  copyImage(v1, v2);
  const pickRand = mulberry32(3);
  const gone = new Set<number>();
  while (gone.size < scale.changedClips) gone.add(1 + pick(pickRand, scale.clips));
  mtools('mdel', v2, [...[...gone].sort((a, b) => a - b).map((i) => `::/DCIM/${clipName(i)}`)]);
  const added: string[] = [];
  for (let i = scale.clips + 1; i <= scale.clips + scale.changedClips; i++) {
    const f = path.join(staging, clipName(i));
    writeRandomFile(f, scale.clipBytes, `d1-clip-${i}`);
    added.push(f);
  }
  mtools('mcopy', v2, ['-m', ...added, '::/DCIM/']);
  // The rewritten document: the one closest to 1 MiB, same size, new words.
  const doc = docs.reduce((a, b) => (Math.abs(b.bytes - MiB) < Math.abs(a.bytes - MiB) ? b : a));
  const docFile = path.join(staging, doc.dir, doc.name);
  writeTextFile(docFile, doc.bytes, 99, vocab);
  mtools('mcopy', v2, ['-o', '-m', docFile, `::/DOCS/${doc.dir}/`]);
  fs.rmSync(staging, { recursive: true, force: true });

  const docsTotal = docs.reduce((s, d) => s + d.bytes, 0);
  return {
    id: 'd1',
    title: 'D1 FAT32',
    v1,
    v2,
    change: `${scale.clips} × ${scale.clipBytes / MiB} MiB random clips + ${docs.length} text docs (${(docsTotal / MiB).toFixed(1)} MiB); ` +
      `v2: mdel ${scale.changedClips} clips, mcopy ${scale.changedClips} new, mcopy -o one ${(doc.bytes / KiB).toFixed(0)} KiB doc`,
  };
}

/** D2: the scattered worst case (random 1 MiB extents at 4 KiB-aligned offsets), D2': small writes. */
function generateD2(dir: string, scale: Scale): Omit<Dataset, 'v1Facts' | 'v2Facts'> {
  const v1 = path.join(dir, 'd2-v1', 'drive.img');
  const v2 = path.join(dir, 'd2-v2', 'drive.img');
  freshImage(v1, scale.imageBytes);
  const rand = mulberry32(D2_SEED);
  const data = byteStream('d2-extents');
  const extents: number[] = [];
  const fd1 = fs.openSync(v1, 'r+');
  try {
    for (let i = 0; i < scale.extents; i++) {
      const offset = pick(rand, (scale.imageBytes - scale.extentBytes) / 4096) * 4096;
      extents.push(offset);
      fs.writeSync(fd1, data(scale.extentBytes), 0, scale.extentBytes, offset);
    }
  } finally {
    fs.closeSync(fd1);
  }

  copyImage(v1, v2);
  const change = mulberry32(D2_CHANGE_SEED);
  const writes = Math.max(1, Math.round((scale.changeShare * scale.extents * scale.extentBytes) / scale.writeBytes));
  const fresh = byteStream('d2-writes');
  const overlaps = (off: number): boolean => extents.some((e) => off < e + scale.extentBytes && e < off + scale.writeBytes);
  const fd2 = fs.openSync(v2, 'r+');
  try {
    for (let i = 0; i < writes; i++) {
      const base = extents[pick(change, extents.length)]!;
      const offset = base + pick(change, (scale.extentBytes - scale.writeBytes) / 4096 + 1) * 4096;
      fs.writeSync(fd2, fresh(scale.writeBytes), 0, scale.writeBytes, offset);
    }
    for (let i = 0; i < writes; i++) {
      let offset: number;
      do offset = pick(change, (scale.imageBytes - scale.writeBytes) / 4096) * 4096;
      while (overlaps(offset));
      fs.writeSync(fd2, fresh(scale.writeBytes), 0, scale.writeBytes, offset);
    }
  } finally {
    fs.closeSync(fd2);
  }
  return {
    id: 'd2',
    title: 'D2 scattered',
    v1,
    v2,
    change: `${scale.extents} random ${scale.extentBytes / MiB} MiB extents (seed ${D2_SEED}); v2: ${writes} × ${scale.writeBytes / KiB} KiB rewrites inside extents + ${writes} new ${scale.writeBytes / KiB} KiB extents in holes (seed ${D2_CHANGE_SEED})`,
  };
}

/**
 * Generates (or, when `dir` already holds images made by this generator at this scale, reuses)
 * the four images. Facts (sizes, extents, SHA-256) are recorded next to them.
 */
export function workloads(dir: string, scale: Scale, log: (line: string) => void): Dataset[] {
  const manifest = path.join(dir, 'datasets.json');
  const key = JSON.stringify({ GENERATOR, scale });
  try {
    const saved = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { key: string; datasets: Dataset[] };
    if (saved.key === key && saved.datasets.every((d) => fs.existsSync(d.v1) && fs.existsSync(d.v2))) {
      log(`reusing workloads in ${dir}`);
      return saved.datasets;
    }
  } catch {
    // none yet
  }
  fs.rmSync(manifest, { force: true });
  const datasets: Dataset[] = [];
  for (const gen of [generateD1, generateD2]) {
    const started = performance.now();
    const d = gen(dir, scale);
    datasets.push({ ...d, v1Facts: imageFacts(d.v1), v2Facts: imageFacts(d.v2) });
    log(`generated ${d.title} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  fs.writeFileSync(manifest, JSON.stringify({ key, datasets }, null, 2));
  return datasets;
}
