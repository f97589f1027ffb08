import { z } from 'zod';
import { PiDriveError, fromZodIssues } from '../core/errors.ts';
import { DriveId, DriveMode } from '../drives/model.ts';
import { Transaction } from './payloads.ts';

/** The largest command or request PiDrive reads; anything bigger is refused unparsed. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

/**
 * What a `drive/<id>/set` message asks for, reduced to one operation before anything runs, so a
 * command is either applied whole or refused whole.
 */
export type SetCommand =
  | { op: 'attach'; mode?: z.infer<typeof DriveMode> }
  | { op: 'detach' }
  | { op: 'eject' }
  | { op: 'backup' }
  | { op: 'mode'; mode: z.infer<typeof DriveMode> };

const SetObject = z
  .object({
    attached: z.boolean().optional(),
    action: z.enum(['attach', 'detach', 'eject', 'backup']).optional(),
    mode: DriveMode.optional(),
  })
  .strict();

/** Parses a `/set` payload: `ON`/`OFF`, `{"attached": bool}`, `{"action": ...}`, `{"mode": ...}`. */
export function parseSetCommand(payload: Buffer): SetCommand {
  const value = decode(payload);
  if (value === 'ON') return { op: 'attach' };
  if (value === 'OFF') return { op: 'detach' };
  if (typeof value === 'string') {
    throw new PiDriveError('bad_request', `unknown command "${value.slice(0, 40)}": send ON, OFF or a JSON object`, { payload: 'unknown command' });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new PiDriveError('bad_request', 'the command must be ON, OFF or a JSON object', { payload: 'not an object' });
  }
  const cmd = parseInput(SetObject, value);
  const { attached, action, mode } = cmd;
  if (attached !== undefined && action !== undefined) {
    throw new PiDriveError('bad_request', 'send either "attached" or "action", not both', { action: 'conflicts with attached' });
  }
  const op = action ?? (attached === undefined ? undefined : attached ? 'attach' : 'detach');
  if (op === undefined) {
    if (mode === undefined) throw new PiDriveError('bad_request', 'the command is empty: send "attached", "action" or "mode"', { payload: 'empty command' });
    return { op: 'mode', mode };
  }
  if (mode !== undefined && op !== 'attach') {
    throw new PiDriveError('bad_request', `"mode" can only go with attaching, not with ${op}`, { mode: `not allowed with ${op}` });
  }
  if (op === 'attach') return mode === undefined ? { op } : { op, mode };
  return { op };
}

/**
 * A request body: empty means `{}`; otherwise a JSON object. The transaction is taken out first so
 * that even a request refused for its other fields gets its transaction echoed.
 */
export function parseRequestBody(payload: Buffer): { body: Record<string, unknown>; transaction: string | number | undefined } {
  if (payload.length === 0) return { body: {}, transaction: undefined };
  const value = decode(payload);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new PiDriveError('bad_request', 'the request must be a JSON object', { payload: 'not an object' });
  }
  const { transaction, ...body } = value as Record<string, unknown>;
  if (transaction === undefined) return { body, transaction: undefined };
  const parsed = Transaction.safeParse(transaction);
  if (!parsed.success) throw new PiDriveError('bad_request', 'transaction must be a string (up to 256 characters) or a number', { transaction: 'invalid' });
  return { body, transaction: parsed.data };
}

/** Best effort: the transaction of a request refused before its body could be read whole. */
export function salvageTransaction(payload: Buffer): string | number | undefined {
  if (payload.length > MAX_PAYLOAD_BYTES) return undefined;
  try {
    const value = JSON.parse(payload.toString('utf8')) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const parsed = Transaction.safeParse((value as Record<string, unknown>).transaction);
      if (parsed.success) return parsed.data;
    }
  } catch {
    // nothing to salvage
  }
  return undefined;
}

/** zod parse whose error names every offending field, unknown fields included. */
export function parseInput<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys' ? issue.keys.map((key) => ({ path: [...issue.path, key], message: 'unknown field' })) : [issue],
  );
  throw fromZodIssues('bad_request', issues);
}

function decode(payload: Buffer): unknown {
  if (payload.length > MAX_PAYLOAD_BYTES) {
    throw new PiDriveError('too_large', `the payload is ${payload.length} bytes; the limit is ${MAX_PAYLOAD_BYTES}`, { payload: 'too large' });
  }
  const text = payload.toString('utf8').trim();
  if (text === 'ON' || text === 'OFF') return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new PiDriveError('bad_request', 'the payload is not valid JSON', { payload: 'malformed JSON' });
  }
}

export const DriveRef = z.object({ id: DriveId }).strict();
export const AttachRequest = z.object({ id: DriveId, mode: DriveMode.optional() }).strict();
export const RemoveRequest = z.object({ id: DriveId, force: z.boolean().optional() }).strict();
export const BackupRequest = z.object({ id: DriveId, repository: z.string().min(1).optional() }).strict();
export const RestoreRequest = z
  .object({
    id: DriveId,
    snapshot: z.string().min(1, 'must name a snapshot id or "latest"'),
    repository: z.string().min(1).optional(),
    to: DriveId.optional().describe('restore into a new drive with this id; without it, in place'),
    pool: z.string().min(1).optional(),
  })
  .strict();
export const EmptyRequest = z.object({}).strict();
