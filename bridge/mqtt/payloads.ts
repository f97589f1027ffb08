import { z } from 'zod';
import { BackupState, DriveEventType, DriveMode, type Drive, type DriveEvent, type HostState } from '../drives/model.ts';
import type { GadgetInfo } from '../gadget/types.ts';

/**
 * Every message PiDrive publishes outside Home Assistant discovery, as zod schemas: the builders
 * below produce them and the tests check each message a subscriber sees against them.
 */

/** ISO-8601 with a timezone: what Home Assistant's timestamp sensors require. */
const Timestamp = z.iso.datetime({ offset: true });

export const BridgeStatePayload = z.object({ state: z.enum(['online', 'offline']) }).strict();
export type BridgeStatePayload = z.infer<typeof BridgeStatePayload>;

export const ONLINE = JSON.stringify({ state: 'online' } satisfies BridgeStatePayload);
export const OFFLINE = JSON.stringify({ state: 'offline' } satisfies BridgeStatePayload);

export const BridgeInfoPayload = z
  .object({
    version: z.string(),
    gadget_backend: z.enum(['configfs', 'simulated']),
    gadget_reason: z.string().describe('why this backend: a simulated gadget says what the board lacks'),
    udc: z.string().nullable(),
    max_luns: z.number().int().positive(),
    slots: z.number().int().positive().describe('drives that can be attached at once'),
    capabilities: z.object({
      forced_eject: z.boolean(),
      inquiry_string: z.boolean(),
      soft_connect: z.boolean(),
      cdrom_max_bytes: z.number().int().positive(),
    }),
    drive_count: z.number().int().nonnegative(),
    attached_drives: z.number().int().nonnegative(),
    host_connected: z.boolean(),
    host_writing: z.boolean(),
    host_idle_s: z.number().nonnegative().nullable(),
    broker: z.enum(['embedded', 'external']),
  })
  .strict();
export type BridgeInfoPayload = z.infer<typeof BridgeInfoPayload>;

/** The retained state of one drive: the contract's keys plus `available` (the image's pool is mounted). */
export const DriveStatePayload = z
  .object({
    attached: z.boolean(),
    mode: DriveMode,
    available: z.boolean(),
    host_connected: z.boolean(),
    host_writing: z.boolean(),
    host_idle_s: z.number().nonnegative().nullable(),
    size_bytes: z.number().int().nonnegative(),
    allocated_bytes: z.number().int().nonnegative(),
    last_backup: Timestamp.nullable(),
    last_backup_bytes: z.number().int().nonnegative().nullable(),
    backup_state: BackupState,
    backup_progress: z.number().min(0).max(100).nullable(),
    suspicious_change: z.boolean(),
  })
  .strict();
export type DriveStatePayload = z.infer<typeof DriveStatePayload>;

/** A per-drive event; extra details (bytes, duration_s, error...) ride along. */
export const DriveEventPayload = z.object({ event_type: DriveEventType }).catchall(z.unknown());
export type DriveEventPayload = z.infer<typeof DriveEventPayload>;

export const Transaction = z.union([z.string().max(256), z.number()]);

export const ErrorBody = z
  .object({ code: z.string(), message: z.string().min(1), fields: z.record(z.string(), z.string()).optional() })
  .strict();

export const ResponsePayload = z.discriminatedUnion('status', [
  z.object({ status: z.literal('ok'), data: z.record(z.string(), z.unknown()), transaction: Transaction.optional() }).strict(),
  z.object({ status: z.literal('error'), data: z.object({}).strict(), error: ErrorBody, transaction: Transaction.optional() }).strict(),
]);
export type ResponsePayload = z.infer<typeof ResponsePayload>;

export function driveStatePayload(drive: Drive): DriveStatePayload {
  return {
    attached: drive.attached,
    mode: drive.mode,
    available: drive.available,
    host_connected: drive.host_connected,
    host_writing: drive.host_writing,
    host_idle_s: drive.host_idle_s,
    size_bytes: drive.size_bytes,
    allocated_bytes: drive.allocated_bytes,
    last_backup: withTimezone(drive.last_backup),
    last_backup_bytes: drive.last_backup_bytes,
    backup_state: drive.backup_state,
    backup_progress: drive.backup_progress,
    suspicious_change: drive.suspicious_change,
  };
}

export function bridgeInfoPayload(input: {
  version: string;
  gadget: GadgetInfo;
  drives: readonly Pick<Drive, 'attached'>[];
  host: HostState;
  broker: 'embedded' | 'external';
}): BridgeInfoPayload {
  return {
    version: input.version,
    gadget_backend: input.gadget.backend,
    gadget_reason: input.gadget.reason,
    udc: input.gadget.udc,
    max_luns: input.gadget.max_luns,
    slots: input.gadget.slots,
    capabilities: input.gadget.capabilities,
    drive_count: input.drives.length,
    attached_drives: input.drives.filter((d) => d.attached).length,
    host_connected: input.host.host_connected,
    host_writing: input.host.host_writing,
    host_idle_s: input.host.host_idle_s,
    broker: input.broker,
  };
}

export function driveEventPayload(event: DriveEvent): DriveEventPayload {
  const { drive: _drive, ...rest } = event;
  return rest;
}

/**
 * Home Assistant rejects timestamps without a timezone; the stores write UTC ISO strings, and
 * anything unparsable is published as null rather than as a value HA would turn into an error.
 */
function withTimezone(value: string | null): string | null {
  if (value === null) return null;
  if (Timestamp.safeParse(value).success) return value;
  const time = Date.parse(value);
  return Number.isNaN(time) ? null : new Date(time).toISOString();
}
