import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { allCommands } from '../../../bridge/cli/commands/index.ts';
import { cliReference } from '../../../scripts/gen-config-docs.ts';
import { tempDir } from '../../helpers/tools.ts';

const CLI = path.resolve(import.meta.dirname, '../../../bridge/cli/main.ts');
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PIDRIVE_')));

function pidrive(cwd: string, args: string[]) {
  const r = spawnSync(process.execPath, [CLI, '--data-dir', path.join(cwd, 'data'), ...args], { cwd, encoding: 'utf8', env: ENV });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('with --json a usage error puts exactly one JSON document on stdout and the help on stderr', (t) => {
  const cwd = tempDir(t);
  for (const args of [['frobnicate'], ['drive', 'frobnicate'], ['drive', 'create', 'y', '--bogus'], ['drive', 'show'], []]) {
    const r = pidrive(cwd, [...args, '--json']);
    assert.equal(r.code, 2, args.join(' '));
    const doc = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    assert.equal(doc.error.code, 'bad_request', args.join(' '));
    assert.doesNotMatch(doc.error.message, /Usage:|Commands:/, args.join(' '));
    assert.match(r.stderr, /Usage: pidrive|Commands:/, args.join(' '));
  }
  const human = pidrive(cwd, ['frobnicate']);
  assert.equal(human.stdout, '', 'errors never go to stdout');
  assert.match(human.stderr, /^pidrive: unknown command "frobnicate"\n\n[\s\S]*Commands:/);
});

test('required options are shown as required and refused with exit 2 when missing', (t) => {
  const cwd = tempDir(t);
  const required = allCommands.filter((c) => c.required?.length);
  assert.deepEqual(required.map((c) => c.name).sort(), ['drive create', 'drive import', 'drive resize']);
  const reference = cliReference();
  for (const cmd of required) {
    const help = pidrive(cwd, [...cmd.name.split(' '), '--help']);
    const flag = cmd.required![0]!;
    const placeholder = cmd.name === 'drive import' ? 'PATH' : 'SIZE';
    assert.match(help.stdout, new RegExp(`^Usage: pidrive ${cmd.name} ID --${flag} ${placeholder}( \\[options\\])?$`, 'm'), cmd.name);
    assert.ok(reference.includes(`\`pidrive ${cmd.name} ID --${flag} ${placeholder}`), cmd.name);
    assert.ok(!reference.includes(`[--${flag} ${placeholder}]`), cmd.name);
    const r = pidrive(cwd, [...cmd.name.split(' '), 'd1', '--json']);
    assert.equal(r.code, 2, cmd.name);
    assert.deepEqual(JSON.parse(r.stdout), { error: { code: 'bad_request', message: `--${flag} is required`, fields: { [flag]: 'required' } } });
  }
  const human = pidrive(cwd, ['drive', 'create', 'd1']);
  assert.match(human.stderr, /^pidrive: --size is required\n/);
});
