import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { controlRequest } from '../../../bridge/cli/control-client.ts';

/** The bridge side inside the guest: the real `pidrive` daemon and CLI of this checkout. */

export const PROJECT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const CLI = path.join(PROJECT_DIR, 'bridge/cli/main.ts');

export interface ApiResult<T = any> {
  status: number;
  body: T;
}

export class BridgeProcess {
  readonly dataDir: string;
  readonly configFile: string;
  readonly logFile: string;
  #child: ChildProcess | null = null;

  constructor(dataDir: string, logFile: string, config: string) {
    this.dataDir = dataDir;
    this.logFile = logFile;
    fs.mkdirSync(dataDir, { recursive: true });
    this.configFile = path.join(dataDir, 'pidrive.yaml');
    fs.writeFileSync(this.configFile, config);
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async start(timeoutMs = 60000): Promise<void> {
    const log = fs.openSync(this.logFile, 'a');
    const child = spawn(process.execPath, [CLI, 'start', '--data-dir', this.dataDir, '--config', this.configFile], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.#child = child;
    let exited: string | null = null;
    child.once('exit', (code, signal) => (exited = `exited with ${code ?? signal}`));
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (exited) throw new Error(`the bridge ${exited} during start; see ${this.logFile}`);
      const res = await this.api('GET', '/health').catch(() => null);
      if (res && res.status === 200) return;
      if (performance.now() > deadline) throw new Error(`the bridge did not answer on its control socket within ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  /** kill -9: no chance to clean up anything. */
  kill9(): Promise<void> {
    return this.#end('SIGKILL');
  }

  stop(): Promise<void> {
    return this.#end('SIGTERM');
  }

  async #end(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
    this.#child = null;
  }

  async api<T = any>(method: string, apiPath: string, body?: unknown): Promise<ApiResult<T>> {
    const { status, text } = await controlRequest(this.dataDir, method, apiPath, body);
    return { status, body: text ? JSON.parse(text) : null };
  }

  /** Like api() but a non-2xx answer is an error carrying the bridge's message. */
  async ok<T = any>(method: string, apiPath: string, body?: unknown): Promise<T> {
    const res = await this.api<T>(method, apiPath, body);
    if (res.status >= 300) throw new Error(`${method} ${apiPath} → ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  /** The real command line, as a user types it. */
  cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [CLI, '--data-dir', this.dataDir, ...args], { encoding: 'utf8' });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }
}
