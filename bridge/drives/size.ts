import { z } from 'zod';

const UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 2 ** 10, kib: 2 ** 10, kb: 1e3,
  m: 2 ** 20, mib: 2 ** 20, mb: 1e6,
  g: 2 ** 30, gib: 2 ** 30, gb: 1e9,
  t: 2 ** 40, tib: 2 ** 40, tb: 1e12,
};

/** The largest image an MBR partition table can describe with 512-byte sectors. */
export const MAX_DRIVE_BYTES = 2 ** 32 * 512;

/**
 * "64M", "32G", "500MiB", "1.5GiB", "1000000000": K/M/G/T and KiB.. are binary (as `truncate`),
 * KB/MB/GB/TB decimal. The result must be a whole number of 512-byte sectors.
 */
export const SizeString = z.union([z.number(), z.string()]).transform((input, ctx): number => {
  const text = String(input).trim();
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text);
  const unit = match ? UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a size; use e.g. 64M, 32G, 500MiB` });
    return z.NEVER;
  }
  const bytes = Math.round(Number(match[1]) * unit);
  if (bytes <= 0 || bytes % 512 !== 0) {
    ctx.addIssue({ code: 'custom', message: `${text} is not a positive multiple of 512 bytes` });
    return z.NEVER;
  }
  if (bytes > MAX_DRIVE_BYTES) {
    ctx.addIssue({ code: 'custom', message: `${text} is larger than 2 TiB, the most an MBR drive can hold` });
    return z.NEVER;
  }
  return bytes;
});
