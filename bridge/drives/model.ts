import { z } from 'zod';

/** `^[a-z0-9][a-z0-9-]{0,31}$`: safe as a file name, an MQTT topic level and an HA object id. */
export const DriveId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'must be 1-32 characters: lowercase letters, digits and dashes, not starting with a dash');
export const PoolName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'must be 1-32 characters: lowercase letters, digits, dashes and underscores');

export const DriveMode = z.enum(['read_write', 'read_only', 'cdrom']);
export type DriveMode = z.infer<typeof DriveMode>;
export const Filesystem = z.enum(['fat32', 'exfat', 'none', 'iso9660', 'unknown']);
export type Filesystem = z.infer<typeof Filesystem>;
export const CreateFilesystem = z.enum(['fat32', 'exfat', 'none']);
export const PartitionScheme = z.enum(['mbr', 'none']);
export const DriveSource = z.enum(['created', 'copied', 'referenced', 'restored']);
export const BackupState = z.enum(['idle', 'queued', 'running', 'failed']);

/** What the database keeps about a drive. `file` is relative to the pool's directory. */
export const DriveRecord = z.object({
  id: DriveId,
  pool: PoolName,
  file: z.string(),
  size_bytes: z.number().int().nonnegative(),
  filesystem: Filesystem,
  label: z.string().nullable(),
  partition: PartitionScheme,
  mode: DriveMode,
  source: DriveSource,
  /** What the user asked for; the gadget may lag behind until reconciled. */
  attached: z.boolean(),
  lun: z.number().int().nonnegative().nullable(),
  owner: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type DriveRecord = z.infer<typeof DriveRecord>;

/** Host-side view of the USB link, shared by every drive of the bridge. */
export const HostState = z.object({
  host_connected: z.boolean(),
  host_writing: z.boolean(),
  host_idle_s: z.number().nonnegative().nullable(),
  write_rate_bps: z.number().nonnegative(),
});
export type HostState = z.infer<typeof HostState>;

/** The drive object of the API, the CLI's --json output and (a subset) the MQTT state. */
export const Drive = DriveRecord.omit({ file: true }).extend({
  path: z.string(),
  allocated_bytes: z.number().int().nonnegative(),
  available: z.boolean(),
  /** Why the image cannot be used now (its pool is down or gone, or the file is missing); null when available. */
  unavailable_reason: z.string().nullable(),
  host_connected: z.boolean(),
  host_writing: z.boolean(),
  host_idle_s: z.number().nonnegative().nullable(),
  last_backup: z.string().nullable(),
  last_backup_bytes: z.number().int().nonnegative().nullable(),
  backup_state: BackupState,
  backup_progress: z.number().min(0).max(100).nullable(),
  suspicious_change: z.boolean(),
});
export type Drive = z.infer<typeof Drive>;

export const DriveEventType = z.enum([
  'attached',
  'detached',
  'host_connected',
  'host_disconnected',
  'host_idle',
  'backup_started',
  'backup_completed',
  'backup_failed',
]);
export const DriveEvent = z
  .object({ drive: DriveId, event_type: DriveEventType })
  .catchall(z.unknown());
export type DriveEvent = z.infer<typeof DriveEvent>;

/** The backup module's contribution to the drive view. */
export const DriveBackupInfo = Drive.pick({
  last_backup: true,
  last_backup_bytes: true,
  backup_state: true,
  backup_progress: true,
  suspicious_change: true,
});
export type DriveBackupInfo = z.infer<typeof DriveBackupInfo>;
