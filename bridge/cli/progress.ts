import { formatBytes } from '../pools/registry.ts';

/**
 * Progress for long CLI work on stderr: a redrawn bar on a terminal, one JSON line per second with
 * --json, nothing when stderr is a plain pipe without --json.
 */
export function progressReporter(label: string, json: boolean): { update(done: number, total: number): void; finish(): void } {
  const tty = process.stderr.isTTY === true;
  const started = performance.now();
  let last = 0;
  let drawn = false;
  const line = (done: number, total: number): string => {
    const elapsed = (performance.now() - started) / 1000;
    const rate = elapsed > 0 ? done / elapsed : 0;
    const pct = total > 0 ? Math.min(100, (done / total) * 100) : 100;
    const eta = rate > 0 ? Math.max(0, (total - done) / rate) : 0;
    const width = 30;
    const filled = Math.round((pct / 100) * width);
    return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct.toFixed(0).padStart(3)}% ${formatBytes(done)}/${formatBytes(total)} ${formatBytes(rate)}/s ETA ${eta.toFixed(0)}s`;
  };
  return {
    update(done, total) {
      const now = performance.now();
      if (now - last < (tty && !json ? 100 : 1000) && done < total) return;
      last = now;
      if (json) {
        process.stderr.write(JSON.stringify({ progress: label, done_bytes: done, total_bytes: total }) + '\n');
      } else if (tty) {
        process.stderr.write(`\r${line(done, total)}`);
        drawn = true;
      }
    },
    finish() {
      if (drawn) process.stderr.write('\n');
    },
  };
}
