import { z } from 'zod';
import { DriveMode, HostState, type DriveRecord } from '../drives/model.ts';

/**
 * How a detach or eject finally succeeded (the eject ladder's rungs, least disruptive first);
 * `none` when the drive was not attached, so detaching twice is harmless.
 */
export const EjectMethod = z.enum(['file', 'forced_eject', 'soft_connect', 'rebind', 'simulated', 'none']);
export type EjectMethod = z.infer<typeof EjectMethod>;

export const GadgetInfo = z.object({
  backend: z.enum(['configfs', 'simulated']),
  /** Why the backend was chosen (e.g. "no USB device controller: /sys/class/udc is empty"). */
  reason: z.string(),
  udc: z.string().nullable(),
  /** The kernel's LUN limit per mass-storage function (8 on old kernels, 16 on current ones). */
  max_luns: z.number().int().positive(),
  /** Drive slots in use: gadget.luns capped by max_luns. */
  slots: z.number().int().positive(),
  capabilities: z.object({
    forced_eject: z.boolean(),
    inquiry_string: z.boolean(),
    soft_connect: z.boolean(),
    cdrom_max_bytes: z.number().int().positive(),
  }),
});
export type GadgetInfo = z.infer<typeof GadgetInfo>;

export const AttachOptions = z.object({ mode: DriveMode.optional() }).strict();
export type AttachOptions = z.infer<typeof AttachOptions>;

/**
 * Live control of drives on the USB gadget, for the API, MQTT, CLI (via the control socket) and
 * the backup module. Implemented in bridge/gadget/ on top of a configfs or simulated backend.
 */
export interface AttachmentControl {
  attach(id: string, options?: AttachOptions): Promise<DriveRecord>;
  detach(id: string): Promise<{ drive: DriveRecord; method: EjectMethod }>;
  /** Detach that overrides a host that locked the medium. */
  eject(id: string): Promise<{ drive: DriveRecord; method: EjectMethod }>;
  /** Only while detached (the kernel refuses ro/cdrom changes with a file open). */
  setMode(id: string, mode: DriveMode): Promise<DriveRecord>;
  hostState(): HostState;
  info(): GadgetInfo;
}
