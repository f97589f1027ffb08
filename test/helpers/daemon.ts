import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import type { TestContext } from 'node:test';

export const CLI = path.resolve(import.meta.dirname, '../../bridge/cli/main.ts');

/** The test's environment without PIDRIVE_* overrides, so the developer's settings never leak in. */
export const CLEAN_ENV: Record<string, string> = Object.fromEntries(
  Object.entries(process.env).filter((e): e is [string, string] => !e[0].startsWith('PIDRIVE_') && e[1] !== undefined),
);

/** One CLI run to completion. */
export function pidrive(cwd: string, args: string[], env: Record<string, string> = CLEAN_ENV): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface LogLine {
  time: string;
  level: string;
  msg: string;
  [key: string]: unknown;
}

export interface Daemon {
  /** Every structured log line so far (stdout and stderr). */
  lines(): LogLine[];
  output(): string;
}

/**
 * `pidrive start` as its own process on ephemeral loopback ports, ready once it logged "bridge started"
 * (fails after `timeoutMs`, or at once when it exits first), stopped with SIGTERM when the test ends.
 */
export async function startDaemon(
  t: TestContext,
  dataDir: string,
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Daemon> {
  const env = {
    ...CLEAN_ENV,
    PIDRIVE_HTTP__PORT: '0',
    PIDRIVE_HTTP__HOST: '127.0.0.1',
    PIDRIVE_EMBEDDED_BROKER__PORT: '0',
    PIDRIVE_EMBEDDED_BROKER__HOST: '127.0.0.1',
    PIDRIVE_GADGET__BACKEND: 'simulated',
    ...options.env,
  };
  const child = spawn(process.execPath, [CLI, '--data-dir', dataDir, 'start'], { cwd: path.dirname(CLI), env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  const timeoutMs = options.timeoutMs ?? 30_000;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pidrive start did not log "bridge started" within ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const onData = (d: Buffer): void => {
      output += d.toString();
      if (output.includes('"bridge started"')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`pidrive start exited (code ${child.exitCode}) before it started:\n${output}`));
    });
  });
  return {
    output: () => output,
    lines: () =>
      output
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as LogLine),
  };
}
