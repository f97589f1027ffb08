import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../helpers/tools.ts';

const CLI = path.resolve(import.meta.dirname, '../../../bridge/cli/main.ts');

interface LogLine {
  time: string;
  level: string;
  msg: string;
  [key: string]: unknown;
}

test('pidrive start: structured log, startup reconcile reported, graceful shutdown on SIGTERM and SIGINT', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  fs.mkdirSync(path.join(data, 'images'), { recursive: true });
  // Left behind by a create that was killed: the start must remove it and say so.
  fs.writeFileSync(path.join(data, 'images', '.pidrive-tmp.lost.abcd.img'), 'partial');
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PIDRIVE_'))),
    PIDRIVE_HTTP__PORT: '0',
    PIDRIVE_HTTP__HOST: '127.0.0.1',
    PIDRIVE_EMBEDDED_BROKER__PORT: '0',
    PIDRIVE_EMBEDDED_BROKER__HOST: '127.0.0.1',
    PIDRIVE_GADGET__BACKEND: 'simulated',
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const child = spawn(process.execPath, [CLI, '--data-dir', data, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const lines = (): LogLine[] => output.split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogLine);
    const deadline = Date.now() + 30_000;
    while (!lines().some((l) => l.msg === 'bridge started') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(lines().some((l) => l.msg === 'bridge started'), output);
    assert.ok(fs.existsSync(path.join(data, 'pidrive.sock')), 'control socket');
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill(signal);
    assert.equal(await exit, 0, output);
    const log = lines();
    for (const l of log) {
      assert.ok(['debug', 'info', 'warn', 'error'].includes(l.level) && !Number.isNaN(Date.parse(l.time)) && l.msg, JSON.stringify(l));
    }
    assert.ok(log.some((l) => l.msg === 'shutting down' && l.signal === signal));
    assert.equal(log.at(-1)!.msg, 'bridge stopped');
    assert.equal(fs.existsSync(path.join(data, 'pidrive.lock')), false, 'lock released');
    if (signal === 'SIGTERM') {
      assert.ok(log.some((l) => l.msg === 'reconciled' && /lost/.test(String(l.fix))), 'reconcile reported');
      assert.deepEqual(fs.readdirSync(path.join(data, 'images')).filter((f) => f.startsWith('.pidrive-tmp.')), []);
    }
  }
});
