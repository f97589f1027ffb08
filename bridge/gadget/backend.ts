import type { EjectMethod, GadgetInfo } from './types.ts';

/** What one LUN is asked to serve; attributes are written in this order, `file` last. */
export interface Medium {
  file: string;
  cdrom: boolean;
  ro: boolean;
  nofua: boolean;
  /** 8 vendor + 16 product + 4 revision characters (SCSI INQUIRY). */
  inquiry: string;
}

/** What one LUN serves right now (read back from the kernel, or the simulated state). */
export interface LunView {
  lun: number;
  /** Absolute path as the kernel reports it; null when no medium is loaded. */
  file: string | null;
  ro: boolean;
  cdrom: boolean;
}

export interface HostSample {
  /** The UDC's `state` (`configured` = the host enumerated the gadget); null without a UDC. */
  udcState: string | null;
  /** Bytes the gadget's file-storage thread has written since it started; null when unknown. */
  writeCounter: number | null;
}

/** The host holds PREVENT MEDIUM REMOVAL on the LUN (a mounted filesystem): only eject overrides it. */
export class MediumLocked extends Error {
  constructor(lun: number) {
    super(`the host has locked the medium of LUN ${lun}`);
    this.name = 'MediumLocked';
  }
}

export type BackendInfo = Omit<GadgetInfo, 'backend' | 'reason'>;

/**
 * One way of presenting LUNs to a USB host: the kernel's configfs mass-storage function, or an
 * in-memory stand-in. Backends know slots and attributes; which drive sits in which slot, the
 * database and the events belong to the attachments layer above.
 */
export interface GadgetBackend {
  readonly kind: 'configfs' | 'simulated';
  /** The LUNs a previous run left behind, or null when there is no gadget to adopt. */
  inspect(): Promise<LunView[] | null>;
  /** Builds the gadget from scratch (replacing a previous one), loads `media` before binding. */
  create(media: ReadonlyMap<number, Medium>): Promise<void>;
  /** Takes over the existing gadget without disturbing any LUN that serves a medium. */
  adopt(): Promise<void>;
  info(): BackendInfo;
  /** The device type (CD-ROM or disk) the host saw for this LUN when it last enumerated the gadget. */
  enumeratedCdrom(lun: number): boolean;
  /** Loads a medium into an empty LUN. */
  insert(lun: number, medium: Medium): Promise<void>;
  /** Unloads a LUN: only the plain `file` rung unless `force`, then the whole eject ladder. */
  remove(lun: number, force: boolean): Promise<EjectMethod>;
  /** Disconnects and reconnects the host so it reads every LUN's device type again. */
  reenumerate(): Promise<void>;
  /** The file a LUN serves now, or null (the host may have ejected it). */
  serving(lun: number): Promise<string | null>;
  sampleHost(): Promise<HostSample>;
}
