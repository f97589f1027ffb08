/**
 * Backup benchmark (backup.md §10): PiDrive vs restic, borg (fixed and buzhash) and cp on the same
 * workloads, in one run, each figure also as a ratio to PiDrive.
 *
 *   node bench/backup/run.ts [--quick] [--work DIR] [--out FILE] [--tools pidrive,restic,...]
 *                            [--datasets d1,d2] [--runs N] [--quiet-wait SECONDS] [--engine head|worktree]
 *                            [--keep] [--no-drop-caches]
 *
 * Defaults: full scale (8 GiB images), 3 runs (medians), up to 120 s of waiting before each timed
 * command for the machine to be idle, PiDrive as committed (HEAD).
 * --quick: 64 MiB images, 1 run, no waiting (the smoke test).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { cacheEnv, CONTENDER_IDS, contenders, type Contender } from './contenders.ts';
import { prepareEngine, type Engine } from './engine.ts';
import { imageFacts, readDataExtents } from './image-io.ts';
import { dropCaches, dropCachesRefusal, requireGnuTime, stored, timed, waitForQuiet, type Measured, type Step } from './measure.ts';
import { markdown, targets, withRatios, type DatasetResult, type ToolResult } from './report.ts';
import { FULL, QUICK, workloads, type Dataset } from './workloads.ts';

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    work: { type: 'string' },
    out: { type: 'string' },
    tools: { type: 'string', default: CONTENDER_IDS.join(',') },
    engine: { type: 'string', default: 'head' },
    datasets: { type: 'string', default: 'd1,d2' },
    runs: { type: 'string' },
    'quiet-wait': { type: 'string' },
    keep: { type: 'boolean', default: false },
    'no-drop-caches': { type: 'boolean', default: false },
  },
});

const log = (line: string): void => void process.stderr.write(`[bench:backup] ${line}\n`);

function fail(message: string): never {
  process.stderr.write(`bench:backup: ${message}\n`);
  process.exit(2);
}

const runs = Number(opts.runs ?? (opts.quick ? 1 : 3));
if (!Number.isInteger(runs) || runs < 1) fail(`--runs must be a positive integer, got "${opts.runs}"`);
const quietMax = Number(opts['quiet-wait'] ?? (opts.quick ? 0 : 120));
if (!Number.isFinite(quietMax) || quietMax < 0) fail(`--quiet-wait must be a number of seconds ≥ 0, got "${opts['quiet-wait']}"`);
const toolIds = opts.tools.split(',');
for (const id of toolIds) if (!CONTENDER_IDS.includes(id)) fail(`--tools: unknown tool "${id}" (known: ${CONTENDER_IDS.join(', ')})`);
if (opts.engine !== 'head' && opts.engine !== 'worktree') fail(`--engine must be head or worktree, got "${opts.engine}"`);
const engineSource: Engine['source'] = opts.engine;
const datasetIds = opts.datasets.split(',');
for (const id of datasetIds) if (id !== 'd1' && id !== 'd2') fail(`--datasets: unknown dataset "${id}" (known: d1, d2)`);
const scaleName = opts.quick ? 'quick' : 'full';
const work = path.resolve(opts.work ?? path.join(os.tmpdir(), `pidrive-bench-backup-${scaleName}`));
const out = path.resolve(opts.out ?? path.join(import.meta.dirname, 'results', `${new Date().toISOString().slice(0, 10)}-${scaleName}.json`));
const dropping = !opts['no-drop-caches'];

try {
  requireGnuTime();
} catch (err) {
  fail((err as Error).message);
}
const needed = new Set(['mkfs.vfat', 'mcopy', 'mmd', 'mdel', 'mkfifo', 'cp', 'du', ...toolIds.filter((t) => t !== 'pidrive').map((t) => t.split('-')[0]!)]);
for (const tool of needed) {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', tool], { stdio: 'ignore', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
  } catch {
    fail(`${tool} is not installed (Debian: restic, borgbackup, dosfstools, mtools, coreutils)`);
  }
}

function version(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).split('\n')[0]!.trim();
  } catch {
    return 'unknown';
  }
}

/** Before each timed command: empty the page cache, then let the machine settle. */
async function cold(): Promise<void> {
  if (dropping) dropCaches();
  const waited = await waitForQuiet(quietMax);
  if (waited > 5) log(`waited ${waited.toFixed(0)} s for other processes to quiet down`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function medianOf<T extends object>(xs: T[]): T {
  const first = xs[0]!;
  return Object.fromEntries(Object.keys(first).map((k) => [k, median(xs.map((x) => (x as Record<string, number>)[k]!))])) as T;
}

async function oneRun(c: Contender, d: Dataset, env: NodeJS.ProcessEnv): Promise<Omit<ToolResult, 'ratios'>> {
  const withEnv = (steps: Step[]): Step[] => steps.map((s) => ({ ...s, env: { ...env, ...s.env } }));
  const repo = path.join(work, 'repos', d.id, c.id);
  const restoreDir = path.join(work, 'restore', d.id, c.id);
  fs.rmSync(repo, { recursive: true, force: true });
  fs.rmSync(restoreDir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(repo), { recursive: true });
  fs.mkdirSync(restoreDir, { recursive: true });
  try {
    await timed(withEnv(c.init(repo)));
    await cold();
    const first = await timed(withEnv(c.backup(repo, d.v1, 'v1')));
    const storedV1 = stored(repo);
    log(`${d.id} ${c.id}: first backup ${first.wallS.toFixed(2)} s, ${(storedV1.apparentBytes / 2 ** 20).toFixed(1)} MiB stored`);
    await cold();
    const incremental = await timed(withEnv(c.backup(repo, d.v2, 'v2')));
    const storedV2 = stored(repo);
    log(`${d.id} ${c.id}: incremental ${incremental.wallS.toFixed(2)} s, ${(storedV2.apparentBytes / 2 ** 20).toFixed(1)} MiB stored`);
    await cold();
    const restore = await timed(withEnv(c.restore(repo, 'v2', restoreDir)));
    const facts = imageFacts(path.join(restoreDir, 'drive.img'));
    const identical = facts.sha256 === d.v2Facts.sha256 && facts.apparentBytes === d.v2Facts.apparentBytes;
    log(`${d.id} ${c.id}: restore ${restore.wallS.toFixed(2)} s, ${identical ? 'identical' : 'DIFFERENT'}`);
    return {
      id: c.id,
      label: c.label,
      first,
      incremental,
      storedV1,
      storedV2,
      restore,
      restored: { sha256: facts.sha256, identical, allocatedBytes: facts.allocatedBytes },
    };
  } finally {
    fs.rmSync(restoreDir, { recursive: true, force: true });
    if (!opts.keep) fs.rmSync(repo, { recursive: true, force: true });
  }
}

async function physical(file: string): Promise<{ seconds: number; bytes: number }> {
  await cold();
  const started = performance.now();
  const bytes = readDataExtents(file);
  return { seconds: (performance.now() - started) / 1000, bytes };
}

async function main(): Promise<void> {
  fs.mkdirSync(work, { recursive: true });
  const env = cacheEnv(path.join(work, 'cache'));
  const engine = prepareEngine(engineSource, work);
  log(`PiDrive engine: ${engine.source} at ${engine.commit}${engine.dirty ? ' with uncommitted bridge/backup changes' : ''}`);
  const tools = contenders(engine.root).filter((c) => toolIds.includes(c.id));
  const all = workloads(path.join(work, 'data'), opts.quick ? QUICK : FULL, log);
  const results: DatasetResult[] = [];
  for (const d of all.filter((x) => datasetIds.includes(x.id))) {
    const phys = { v1: await physical(d.v1), v2: await physical(d.v2) };
    const perTool: ToolResult[] = [];
    for (const c of tools) {
      const samples: Omit<ToolResult, 'ratios'>[] = [];
      for (let r = 0; r < runs; r++) samples.push(await oneRun(c, d, env));
      const last = samples[samples.length - 1]!;
      perTool.push({
        ...last,
        first: medianOf<Measured>(samples.map((x) => x.first)),
        incremental: medianOf<Measured>(samples.map((x) => x.incremental)),
        restore: medianOf<Measured>(samples.map((x) => x.restore)),
        restored: samples.find((x) => !x.restored.identical)?.restored ?? last.restored,
        ratios: null,
      });
    }
    results.push({ dataset: d, physical: phys, tools: withRatios(perTool, 'pidrive') });
  }

  const notes: string[] = [];
  const refusal = dropCachesRefusal();
  if (!dropping) notes.push('page cache not dropped (--no-drop-caches): timings are warm-cache.');
  else if (refusal) notes.push(`page cache could not be dropped (${refusal}): timings are warm-cache.`);
  else notes.push('page cache dropped before every timed command (cold reads).');
  if (runs > 1) notes.push(`times and RSS are medians of ${runs} runs; sizes from the last run.`);
  if (!tools.some((t) => t.id === 'pidrive')) notes.push('PiDrive not run: no ratios.');

  const report = {
    date: new Date().toISOString(),
    scale: scaleName,
    runs,
    environment: {
      node: process.version,
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.availableParallelism(),
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      kernel: os.release(),
      filesystem: version('stat', ['-f', '-c', '%T', work]),
      restic: version('restic', ['version']),
      borg: version('borg', ['--version']),
      cp: version('cp', ['--version']),
      mtools: version('mcopy', ['--version']),
      engine,
      cacheDrop: dropping && !refusal,
    },
    results,
    targets: targets(results),
    notes,
  };
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${markdown(results, notes)}\nResults: ${out}\n`);
  if (!opts.keep) fs.rmSync(work, { recursive: true, force: true });
  if (results.some((r) => r.tools.some((t) => !t.restored.identical))) {
    process.stderr.write('bench:backup: a restore was not byte-identical\n');
    process.exitCode = 1;
  }
}

await main();
