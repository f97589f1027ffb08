import fs from 'node:fs/promises';
import { constants } from 'node:fs';

/**
 * configfs and sysfs attribute access. Every value is written in one write() with a trailing
 * newline: the kernel's store handlers run once per write() call, so an empty string would never
 * reach them (`file` needs "\n" to mean "no medium"). Files are opened write-only without
 * O_CREAT/O_TRUNC because some attributes (`forced_eject`) are write-only and none can be created.
 */
export async function writeAttr(file: string, value: string | number): Promise<void> {
  const handle = await fs.open(file, constants.O_WRONLY);
  try {
    await handle.write(`${value}\n`);
  } finally {
    await handle.close();
  }
}

export async function readAttr(file: string): Promise<string> {
  return (await fs.readFile(file, 'utf8')).replace(/\n$/, '');
}

export async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

export function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/** Entries of a directory; an absent directory has none. */
export async function list(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).sort();
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw err;
  }
}
