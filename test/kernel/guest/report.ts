import fs from 'node:fs';
import path from 'node:path';

/** One line per check in <out>/results.jsonl; the host-side test asserts each one by name. */
export interface CheckResult {
  check: string;
  ok: boolean;
  detail: unknown;
  ms: number;
}

export class Report {
  readonly #file: string;

  constructor(outDir: string) {
    this.#file = path.join(outDir, 'results.jsonl');
    fs.writeFileSync(this.#file, '');
  }

  /** Runs one check; a failure is recorded with its message and the scenario goes on. */
  async check(name: string, fn: () => Promise<unknown>): Promise<boolean> {
    const started = performance.now();
    let result: CheckResult;
    try {
      const detail = await fn();
      result = { check: name, ok: true, detail: detail ?? null, ms: Math.round(performance.now() - started) };
    } catch (err) {
      result = { check: name, ok: false, detail: err instanceof Error ? err.stack ?? err.message : String(err), ms: Math.round(performance.now() - started) };
    }
    fs.appendFileSync(this.#file, JSON.stringify(result) + '\n');
    console.log(`${result.ok ? 'ok  ' : 'FAIL'} ${name} (${result.ms} ms)${result.ok ? '' : `\n${String(result.detail)}`}`);
    return result.ok;
  }

  record(name: string, detail: unknown): void {
    fs.appendFileSync(this.#file, JSON.stringify({ check: name, ok: true, detail, ms: 0 }) + '\n');
  }
}

export function readResults(outDir: string): CheckResult[] {
  const file = path.join(outDir, 'results.jsonl');
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as CheckResult);
}

export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}
