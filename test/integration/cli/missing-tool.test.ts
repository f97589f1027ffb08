import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { CLEAN_ENV, CLI, pidrive } from '../../helpers/daemon.ts';
import { findTool, requireTool, tempDir } from '../../helpers/tools.ts';

/**
 * The bridge looks tools up in PATH and then always in /usr/local/sbin, /usr/sbin and /sbin, so a
 * narrow PATH alone cannot hide mkfs. The CLI runs in its own user and mount namespace (unprivileged
 * `unshare -rm`) where an empty directory is mounted over both sbin directories (/sbin links to
 * /usr/sbin here): the machine itself is not changed. PATH holds only the node binary's directory.
 */
function withoutSbin(t: TestContext, cwd: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const empty = tempDir(t, 'pidrive-empty-sbin-');
  // Absolute tool paths in "$1" and "$2": PATH inside is already the narrow one.
  const hide = '"$1" --bind "$2" /usr/sbin && "$1" --bind "$2" /usr/local/sbin && shift 2 && exec "$@"';
  const env = { ...CLEAN_ENV, PATH: path.dirname(process.execPath) };
  const r = spawnSync(findTool('unshare')!, ['-rm', '--', findTool('sh')!, '-c', hide, 'sh', findTool('mount')!, empty, process.execPath, CLI, ...args], {
    cwd,
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('drive create without mkfs installed names the Debian package to install and leaves no drive or image', { timeout: 90_000 }, (t) => {
  if (!requireTool(t, 'unshare', 'mount', 'sh', 'mkfs.vfat')) return;
  const probe = spawnSync(findTool('unshare')!, ['-rm', '--', findTool('mount')!, '--bind', tempDir(t), '/usr/sbin'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    // Not a tool CI could install but a kernel/container permission: skipped (and said) even under
    // CI=true, so a locked-down runner does not block everything on this one check.
    t.diagnostic(`unprivileged user and mount namespaces are not available here: ${probe.stderr.trim()}`);
    return t.skip('needs unprivileged user and mount namespaces');
  }
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  // The local pool's own marker file aside.
  const images = (): string[] => fs.readdirSync(path.join(data, 'images')).filter((f) => f !== '.pidrive-pool');
  const cases = [
    { fs: 'fat32', tool: 'mkfs.vfat', pkg: 'dosfstools' },
    { fs: 'exfat', tool: 'mkfs.exfat', pkg: 'exfatprogs' },
  ];
  for (const c of cases) {
    const r = withoutSbin(t, dir, ['--data-dir', data, 'drive', 'create', 'x', '--size', '64M', '--fs', c.fs, '--json']);
    assert.equal(r.code, 1, `${c.fs}: ${r.stdout}${r.stderr}`);
    const err = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
    assert.equal(err.code, 'missing_tool', c.fs);
    assert.equal(err.message, `${c.tool} is not installed; install the Debian package ${c.pkg} (apt-get install ${c.pkg})`);
    const human = withoutSbin(t, dir, ['--data-dir', data, 'drive', 'create', 'x', '--size', '64M', '--fs', c.fs]);
    assert.notEqual(human.code, 0);
    assert.match(human.stderr, new RegExp(`${c.tool.replace('.', '\\.')} is not installed; install the Debian package ${c.pkg}`));
    const list = pidrive(dir, ['--data-dir', data, 'drive', 'list', '--json']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout), [], `${c.fs}: no drive record is left`);
    assert.deepEqual(images(), [], `${c.fs}: no image or temporary file is left`);
  }
  // Outside the namespace the same command works: the refusal above came from the hidden tool alone.
  const ok = pidrive(dir, ['--data-dir', data, 'drive', 'create', 'x', '--size', '64M', '--fs', 'fat32']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(images(), ['x.img']);
});
