import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { requireTool, tempDir } from '../../helpers/tools.ts';

const CLI = path.resolve(import.meta.dirname, '../../../bridge/cli/main.ts');

function cli(dataDir: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, '--data-dir', dataDir, '--json', ...args], { encoding: 'utf8' });
  return { code: r.status, json: r.stdout ? JSON.parse(r.stdout) : null, stderr: r.stderr };
}

type Trigger = { afterMs: number } | { afterTempFileMs: number };

/**
 * Starts the CLI and SIGKILLs it `afterMs` after its start, or `afterTempFileMs` after its temporary
 * image appears in the pool (a point inside the write). Resolves with whether it had finished.
 */
function killAt(dataDir: string, trigger: Trigger, args: string[]): Promise<boolean> {
  const images = path.join(dataDir, 'images');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, '--data-dir', dataDir, ...args], { stdio: 'ignore' });
    const timers: NodeJS.Timeout[] = [];
    const kill = (ms: number) => timers.push(setTimeout(() => child.kill('SIGKILL'), ms));
    if ('afterMs' in trigger) kill(trigger.afterMs);
    else {
      const poll = setInterval(() => {
        if (fs.existsSync(images) && fs.readdirSync(images).some((f) => f.startsWith('.pidrive-tmp.'))) {
          clearInterval(poll);
          kill(trigger.afterTempFileMs);
        }
      }, 2);
      timers.push(poll);
    }
    child.on('exit', (code) => {
      for (const t of timers) clearTimeout(t);
      resolve(code === 0);
    });
  });
}

test('SIGKILL at many points of an import and a create leaves a consistent state after restart', { timeout: 240_000 }, async (t) => {
  if (!requireTool(t, 'mkfs.exfat', 'cmp')) return;
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  const images = path.join(data, 'images');
  // A source with 192 MiB of data in a 768 MiB sparse image: long enough to be killed mid-copy.
  const source = path.join(dir, 'source.img');
  const fd = fs.openSync(source, 'w');
  fs.ftruncateSync(fd, 768 * 2 ** 20);
  const block = Buffer.alloc(4 * 2 ** 20);
  for (let i = 0; i < 48; i++) {
    block.fill(i + 1);
    fs.writeSync(fd, block, 0, block.length, i * 16 * 2 ** 20);
  }
  fs.closeSync(fd);

  /** How long the whole command takes, start-up included, so kills can be spread over it. */
  const duration = (args: string[]): number => {
    const started = performance.now();
    assert.equal(cli(data, ...args).code, 0);
    const ms = performance.now() - started;
    assert.equal(cli(data, 'drive', 'rm', args[2]!).code, 0);
    return ms;
  };

  let sawTempFile = 0;
  let completed = 0;
  let rolledBack = 0;
  const operations: Array<{ args: string[]; check: (imagePath: string) => void }> = [
    { args: ['drive', 'import', 'victim', '--from', source], check: (p) => assert.equal(spawnSync('cmp', [source, p]).status, 0, 'imported image differs from source') },
    { args: ['drive', 'create', 'victim', '--size', '2G', '--fs', 'exfat'], check: (p) => assert.equal(fs.statSync(p).size, 2 * 2 ** 30) },
  ];
  for (const op of operations) {
    const full = duration(op.args);
    const triggers: Trigger[] = [
      { afterMs: full * 0.3 },
      { afterTempFileMs: 0 },
      { afterTempFileMs: 20 },
      { afterTempFileMs: 120 },
      { afterMs: full * 0.95 },
      { afterMs: full * 1.5 },
    ];
    for (const trigger of triggers) {
      const finished = await killAt(data, trigger, op.args);
      if (fs.readdirSync(images).some((f) => f.startsWith('.pidrive-tmp.'))) sawTempFile++;
      // The next command reconciles the data directory, as `pidrive start` does.
      const list = cli(data, 'drive', 'list');
      assert.equal(list.code, 0, list.stderr);
      const ids = (list.json as Array<{ id: string; path: string }>).map((d) => d.id);
      const leftovers = fs.readdirSync(images).filter((f) => f !== '.pidrive-pool');
      assert.deepEqual(leftovers.filter((f) => f.startsWith('.pidrive-tmp.')), [], 'temporary files remain');
      if (ids.includes('victim')) {
        completed++;
        op.check((list.json as Array<{ id: string; path: string }>)[0]!.path);
        assert.deepEqual(leftovers, [fs.readdirSync(images).find((f) => f.startsWith('victim.'))]);
        assert.equal(cli(data, 'drive', 'rm', 'victim').code, 0);
      } else {
        rolledBack++;
        assert.equal(finished, false, 'the command finished but its drive is missing');
        assert.deepEqual(leftovers, [], `orphan image after a kill at ${JSON.stringify(trigger)}`);
      }
    }
  }
  t.diagnostic(`kills: ${rolledBack} rolled back, ${completed} completed, ${sawTempFile} caught mid-write`);
  assert.ok(sawTempFile > 0, 'no kill landed while an image was being written');
  assert.ok(rolledBack > 0 && completed > 0);
});
