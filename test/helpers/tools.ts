import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';

import { toolPath } from '../../bridge/core/tools.ts';

export { toolPath as findTool };

/**
 * A test that needs a system tool: under CI=true a missing tool fails the test (CI must install it);
 * on a developer machine the test is skipped with the reason. Returns false when skipped.
 */
export function requireTool(t: TestContext, ...names: string[]): boolean {
  const missing = names.filter((n) => !toolPath(n));
  if (missing.length === 0) return true;
  const message = `missing system tool(s): ${missing.join(', ')}`;
  if (process.env.CI === 'true') throw new Error(`${message} (CI must install them)`);
  t.skip(message);
  return false;
}

/** A fresh temporary directory removed when the test ends. */
export function tempDir(t: TestContext, prefix = 'pidrive-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function run(cmd: string, args: string[], options: { input?: string; cwd?: string } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...options });
}
