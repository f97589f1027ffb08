import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../helpers/tools.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const TSUP = path.join(ROOT, 'node_modules', 'tsup', 'dist', 'cli-default.js');

test('the built pidrive binary (tsup, as npm run build makes it) runs directly and through node', { timeout: 120_000 }, (t) => {
  // Laid out as an installed package (package.json beside dist/) inside the project, so the bundle
  // finds its package.json and node_modules as an installed one would.
  const cache = path.join(ROOT, 'node_modules', '.cache');
  fs.mkdirSync(cache, { recursive: true });
  const pkg = fs.mkdtempSync(path.join(cache, 'pidrive-build-test-'));
  t.after(() => fs.rmSync(pkg, { recursive: true, force: true }));
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
  const out = path.join(pkg, 'dist');
  const build = spawnSync(process.execPath, [TSUP, '--out-dir', out], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(build.status, 0, build.stdout + build.stderr);
  const cli = path.join(out, 'cli.js');
  const text = fs.readFileSync(cli, 'utf8');
  assert.ok(text.startsWith('#!/usr/bin/env node\n'), 'starts with a shebang');
  assert.equal(text.match(/^#!/gm)?.length, 1, 'exactly one shebang');

  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PIDRIVE_'))),
    PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`,
  };
  const direct = spawnSync(cli, ['--help'], { encoding: 'utf8', env });
  assert.equal(direct.status, 0, direct.stderr);
  assert.match(direct.stdout, /Commands:[\s\S]*drive create/);

  const data = path.join(tempDir(t), 'data');
  const list = spawnSync(process.execPath, [cli, '--data-dir', data, 'drive', 'list', '--json'], { encoding: 'utf8', env });
  assert.equal(list.status, 0, list.stderr);
  assert.deepEqual(JSON.parse(list.stdout), []);
});
