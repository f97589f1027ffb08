import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const GNU_TIME = '/usr/bin/time';

/** One process of a timed command; a pipeline is several, each reading the previous one's stdout. */
export interface Step {
  cmd: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface Measured {
  wallS: number;
  /** user + system CPU of all processes. */
  cpuS: number;
  /** Largest peak RSS among the processes (GNU time %M). */
  maxRssKiB: number;
  /** Bytes read from storage (GNU time %I × 512): with cold caches, what the command really read. */
  readBytes: number;
  /** CPU seconds other processes on the machine used meanwhile: noise in the wall time. */
  otherCpuS: number;
}

export function requireGnuTime(): void {
  if (!fs.existsSync(GNU_TIME)) throw new Error(`${GNU_TIME} is missing: apt-get install -y time`);
}

let dropDenied: string | null = null;

/**
 * Empties the page cache so each timed command reads from storage, as a first backup would.
 * Needs root; when refused the run goes on with warm caches and the results say so.
 */
export function dropCaches(): boolean {
  if (dropDenied) return false;
  try {
    execFileSync('sync');
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch (err) {
    dropDenied = (err as Error).message;
    return false;
  }
}

export function dropCachesRefusal(): string | null {
  return dropDenied;
}

/** CPU seconds all processes have spent busy since boot (/proc/stat, USER_HZ = 100). */
function busySeconds(): number {
  const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) / 100;
}

/**
 * Waits (up to `maxS`) for a second in which the rest of the machine uses under a quarter of a
 * core, so a timed command does not share the CPUs with someone else's build or test run.
 * Returns the seconds waited.
 */
export async function waitForQuiet(maxS: number): Promise<number> {
  if (maxS <= 0) return 0;
  const started = performance.now();
  for (;;) {
    const before = busySeconds();
    await new Promise((r) => setTimeout(r, 1000));
    if (busySeconds() - before < 0.25 || (performance.now() - started) / 1000 >= maxS) return (performance.now() - started) / 1000;
  }
}

/**
 * Runs a pipeline under GNU time and returns wall time (whole pipeline) and summed resources.
 * Processes are joined by named pipes, not Node's stdio pipes: those are socketpairs, and tools
 * that reopen /dev/stdin (`cp /dev/stdin out`) cannot open a socket.
 */
export async function timed(steps: Step[]): Promise<Measured> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pidrive-bench-time-'));
  const children: ChildProcess[] = [];
  const stderr: string[] = steps.map(() => '');
  const pipes = steps.slice(1).map((_, i) => {
    const fifo = path.join(tmp, `pipe${i}`);
    execFileSync('mkfifo', [fifo]);
    // The read end first and non-blocking, so opening the write end does not wait for a reader.
    // (The reader gets that fd as stdin with O_NONBLOCK set: fine for `cp /dev/stdin`, which opens
    // the pipe anew; a tool reading fd 0 directly would need a blocking end.)
    const read = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    return { read, write: fs.openSync(fifo, fs.constants.O_WRONLY) };
  });
  const closePipes = (): void => {
    for (const p of pipes.splice(0)) {
      fs.closeSync(p.read);
      fs.closeSync(p.write);
    }
  };
  const busyBefore = busySeconds();
  const started = performance.now();
  try {
    const exits = steps.map((step, i) => {
      const child = spawn(GNU_TIME, ['-o', path.join(tmp, `${i}`), '-f', '%U %S %M %I', step.cmd, ...step.args], {
        cwd: step.cwd,
        env: { ...process.env, ...step.env },
        stdio: [pipes[i - 1]?.read ?? 'ignore', pipes[i]?.write ?? 'ignore', 'pipe'],
      });
      children.push(child);
      child.stderr!.on('data', (d: Buffer) => (stderr[i] = (stderr[i]! + d.toString()).slice(-4000)));
      return new Promise<number>((resolve, reject) => {
        child.on('error', reject);
        child.on('close', (code) => resolve(code ?? -1));
      });
    });
    // Only the children may hold the pipe ends: a reader then sees EOF, a writer EPIPE, when the
    // other side exits, so a failing process cannot leave its neighbour blocked.
    closePipes();
    const codes = await Promise.all(exits);
    const wallS = (performance.now() - started) / 1000;
    const busyS = busySeconds() - busyBefore;
    codes.forEach((code, i) => {
      if (code !== 0) {
        const s = steps[i]!;
        throw new Error(`${s.cmd} ${s.args.join(' ')} exited ${code}: ${stderr[i]!.trim().split('\n').slice(-3).join(' | ')}`);
      }
    });
    let cpuS = 0;
    let maxRssKiB = 0;
    let readBytes = 0;
    for (let i = 0; i < steps.length; i++) {
      // GNU time may prefix its own notes ("Command exited…"); the figures are on the last line.
      const line = fs.readFileSync(path.join(tmp, `${i}`), 'utf8').trim().split('\n').pop()!;
      const [user, sys, rss, inBlocks] = line.split(' ').map(Number) as [number, number, number, number];
      cpuS += user + sys;
      maxRssKiB = Math.max(maxRssKiB, rss);
      readBytes += inBlocks * 512;
    }
    return { wallS, cpuS, maxRssKiB, readBytes, otherCpuS: Math.max(0, busyS - cpuS) };
  } finally {
    closePipes();
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export interface Stored {
  /** `du -sb`: apparent bytes of every file in the repository. */
  apparentBytes: number;
  /** `du -s -B1`: bytes allocated on disk (what sparse copies really take). */
  allocatedBytes: number;
  files: number;
}

export function stored(dir: string): Stored {
  const du = (args: string[]): number => Number(execFileSync('du', [...args, dir], { encoding: 'utf8' }).split('\t')[0]);
  const files = (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[]).filter((e) => e.isFile()).length;
  return { apparentBytes: du(['-sb']), allocatedBytes: du(['-s', '-B1']), files };
}
