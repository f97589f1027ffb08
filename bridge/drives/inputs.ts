import { z } from 'zod';
import { CreateFilesystem, DriveId, DriveMode, PartitionScheme, PoolName } from './model.ts';
import { SizeString } from './size.ts';

/** What a user sends to create a drive (CLI flags, POST /drives, MQTT drive/create). */
export const CreateDriveInput = z
  .object({
    id: DriveId,
    size: SizeString,
    fs: CreateFilesystem.default('fat32'),
    label: z.string().min(1).optional(),
    /** Default: an MBR partition when there is a filesystem, a bare disk otherwise. */
    partition: PartitionScheme.optional(),
    pool: PoolName.default('local'),
    mode: DriveMode.default('read_write'),
  })
  .strict();
export type CreateDriveInput = z.input<typeof CreateDriveInput>;

export const ImportMode = z.enum(['copy', 'reference']);

/** Adopt an existing image or ISO: copied into a pool (sparse) or referenced where it lies in a pool. */
export const ImportDriveInput = z
  .object({
    id: DriveId,
    from: z.string().min(1, 'must name a file').refine((s) => !s.includes('\0'), 'must not contain NUL bytes'),
    mode: ImportMode.default('copy'),
    cdrom: z.boolean().default(false),
    pool: PoolName.default('local'),
  })
  .strict();
export type ImportDriveInput = z.input<typeof ImportDriveInput>;

export const ResizeDriveInput = z.object({ size: SizeString }).strict();
