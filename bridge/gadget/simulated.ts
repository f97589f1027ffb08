import fs from 'node:fs/promises';
import { PiDriveError } from '../core/errors.ts';
import type { BackendInfo, GadgetBackend, HostSample, LunView, Medium } from './backend.ts';
import { CDROM_MAX_BYTES } from './configfs.ts';
import type { EjectMethod } from './types.ts';

/** The kernel's limit on current kernels; the simulation offers the same. */
const MAX_LUNS = 16;

/**
 * The gadget without a kernel, for machines with no USB device controller: the same slots and
 * rules (media only into empty slots, a slot's device type fixed until re-enumeration), no USB
 * host. Nothing survives the process, so every start rebuilds from the database.
 */
export class SimulatedBackend implements GadgetBackend {
  readonly kind = 'simulated' as const;
  readonly #slots: number;
  /** `cdrom` is the slot's attribute; `enumerated` what the (imaginary) host saw at enumeration. */
  #luns: Array<{ medium: Medium | null; cdrom: boolean; enumerated: boolean }> = [];

  constructor(luns: number) {
    this.#slots = Math.min(luns, MAX_LUNS);
  }

  info(): BackendInfo {
    return {
      udc: null,
      max_luns: MAX_LUNS,
      slots: this.#slots,
      capabilities: { forced_eject: false, inquiry_string: false, soft_connect: false, cdrom_max_bytes: CDROM_MAX_BYTES },
    };
  }

  async inspect(): Promise<LunView[] | null> {
    return null;
  }

  async create(media: ReadonlyMap<number, Medium>): Promise<void> {
    this.#luns = Array.from({ length: this.#slots }, () => ({ medium: null, cdrom: false, enumerated: false }));
    for (const [lun, medium] of media) await this.insert(lun, medium);
    await this.reenumerate();
  }

  async adopt(): Promise<void> {
    throw new PiDriveError('internal', 'the simulated gadget has nothing to adopt');
  }

  enumeratedCdrom(lun: number): boolean {
    return this.#luns[lun]?.enumerated ?? false;
  }

  async insert(lun: number, medium: Medium): Promise<void> {
    const slot = this.#luns[lun];
    if (!slot) throw new PiDriveError('internal', `no drive slot ${lun}`);
    if (slot.medium) throw new PiDriveError('conflict', 'the drive slot still serves another medium');
    if (!(await fs.stat(medium.file).catch(() => null))) throw new PiDriveError('unavailable', `the image ${medium.file} does not exist`);
    slot.medium = medium;
    slot.cdrom = medium.cdrom;
  }

  async remove(lun: number): Promise<EjectMethod> {
    const slot = this.#luns[lun];
    if (slot) slot.medium = null;
    return 'simulated';
  }

  /** A real host would now see each slot's device type again. */
  async reenumerate(): Promise<void> {
    for (const slot of this.#luns) slot.enumerated = slot.cdrom;
  }

  async serving(lun: number): Promise<string | null> {
    return this.#luns[lun]?.medium?.file ?? null;
  }

  async sampleHost(): Promise<HostSample> {
    return { udcState: null, writeCounter: null };
  }
}
