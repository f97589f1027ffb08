import type { z } from 'zod';
import { fromZodIssues, type PiDriveError } from '../core/errors.ts';

/**
 * zod issues → one bad_request naming each field. An unknown key becomes its own field ("unknown
 * field"), and a problem with the whole body is reported as `body`, so the answer always names
 * something the client sent.
 */
export function inputError(issues: readonly z.core.$ZodIssue[], whole: string): PiDriveError {
  return fromZodIssues('bad_request', flatten(issues, whole));
}

/** For a union, the branch that came closest (fewest problems) explains the refusal best. */
function flatten(issues: readonly z.core.$ZodIssue[], whole: string): Array<{ path: PropertyKey[]; message: string }> {
  const flat: Array<{ path: PropertyKey[]; message: string }> = [];
  for (const issue of issues) {
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      const closest = [...issue.errors].sort((a, b) => a.length - b.length)[0]!;
      const nested = flatten(closest.map((i) => ({ ...i, path: [...issue.path, ...i.path] }) as z.core.$ZodIssue), whole);
      flat.push(...nested);
    } else if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) flat.push({ path: [...issue.path, key], message: 'unknown field' });
    } else {
      flat.push({ path: issue.path.length ? [...issue.path] : [whole], message: issue.message });
    }
  }
  return flat;
}

export function parseInput<S extends z.ZodType>(schema: S, value: unknown, whole: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw inputError(result.error.issues, whole);
  return result.data;
}
