import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/schema.ts';
import { PiDriveError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { MediumLocked, type BackendInfo, type GadgetBackend, type HostSample, type LunView, type Medium } from './backend.ts';
import { FileStorageCounter } from './file-storage.ts';
import { errnoOf, exists, list, readAttr, writeAttr } from './sysfs.ts';
import type { EjectMethod } from './types.ts';

const FUNCTION = 'mass_storage.0';
const CONFIG = 'c.1';
const LANG = '0x409';
/** Limits current kernels have (16: the CBW's 4-bit LUN field) and older ones had (8), highest first. */
const LUN_LIMITS = [16, 8];
/** How long a reconnect after soft_connect may take before the ladder moves on to a rebind. */
const RECONNECT_TIMEOUT_MS = 5000;

export interface ConfigfsOptions {
  gadget: Config['gadget'];
  udc: string;
  serial: string;
  log: Logger;
  /**
   * Attributes to treat as absent although the kernel has them: reproduces an older kernel (no
   * `forced_eject`) or a controller without `soft_connect`, so each rung of the eject ladder can be
   * proven against a real kernel.
   */
  ignoreAttributes?: readonly string[];
}

const hex4 = (v: number | string): string => `0x${(typeof v === 'number' ? v : parseInt(v, 16)).toString(16).padStart(4, '0')}`;

/**
 * The real backend: one composite gadget with one mass_storage function whose LUNs are the drive
 * slots (all LUNs share the function's two endpoints, which matters on controllers with few).
 * Slots are created before the function is linked into the configuration, because the kernel
 * refuses `mkdir lun.N` on a linked function even while the UDC is unbound.
 */
export class ConfigfsBackend implements GadgetBackend {
  readonly kind = 'configfs' as const;
  readonly #opts: ConfigfsOptions;
  readonly #log: Logger;
  readonly #gadgets: string;
  readonly #dir: string;
  readonly #fn: string;
  readonly #udcDir: string;
  readonly #counter = new FileStorageCounter();
  /** Until probed at create/adopt: the lowest limit any kernel had. */
  #maxLuns = 8;
  #slots = 1;
  #caps = { forced_eject: false, inquiry_string: false, soft_connect: false };
  #enumeratedCdrom: boolean[] = [];

  constructor(opts: ConfigfsOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    this.#gadgets = path.join(opts.gadget.configfs_root, 'usb_gadget');
    this.#dir = path.join(this.#gadgets, opts.gadget.name);
    this.#fn = path.join(this.#dir, 'functions', FUNCTION);
    this.#udcDir = path.join(opts.gadget.sysfs_root, 'class', 'udc', opts.udc);
  }

  info(): BackendInfo {
    return {
      udc: this.#opts.udc,
      max_luns: this.#maxLuns,
      slots: this.#slots,
      capabilities: { ...this.#caps, cdrom_max_bytes: CDROM_MAX_BYTES },
    };
  }

  #lun(n: number, attr: string): string {
    return path.join(this.#fn, `lun.${n}`, attr);
  }

  async inspect(): Promise<LunView[] | null> {
    if (!(await exists(this.#fn))) return null;
    const views: LunView[] = [];
    for (const entry of await list(this.#fn)) {
      const m = /^lun\.(\d+)$/.exec(entry);
      if (!m) continue;
      const lun = Number(m[1]);
      views.push({
        lun,
        file: await this.serving(lun),
        ro: (await readAttr(this.#lun(lun, 'ro'))) === '1',
        cdrom: (await readAttr(this.#lun(lun, 'cdrom'))) === '1',
      });
    }
    return views.sort((a, b) => a.lun - b.lun);
  }

  async create(media: ReadonlyMap<number, Medium>): Promise<void> {
    await this.#probe();
    this.#slots = Math.min(this.#opts.gadget.luns, this.#maxLuns);
    if (this.#slots < this.#opts.gadget.luns) {
      this.#log.warn('gadget.luns is above the kernel limit; using fewer drive slots', { luns: this.#opts.gadget.luns, kernel_limit: this.#maxLuns });
    }
    const g = this.#opts.gadget;
    await teardown(this.#dir);
    await fs.mkdir(this.#dir);
    await writeAttr(path.join(this.#dir, 'idVendor'), hex4(g.vendor_id));
    await writeAttr(path.join(this.#dir, 'idProduct'), hex4(g.product_id));
    await writeAttr(path.join(this.#dir, 'bcdDevice'), '0x0100');
    await writeAttr(path.join(this.#dir, 'bcdUSB'), '0x0200');
    const strings = path.join(this.#dir, 'strings', LANG);
    await fs.mkdir(strings);
    await writeAttr(path.join(strings, 'manufacturer'), g.manufacturer);
    await writeAttr(path.join(strings, 'product'), g.product);
    await writeAttr(path.join(strings, 'serialnumber'), this.#opts.serial);
    const config = path.join(this.#dir, 'configs', CONFIG);
    await fs.mkdir(config);
    await writeAttr(path.join(config, 'MaxPower'), g.max_power_ma);
    await fs.mkdir(path.join(config, 'strings', LANG));
    await writeAttr(path.join(config, 'strings', LANG, 'configuration'), 'PiDrive mass storage');
    await fs.mkdir(this.#fn);
    // stall=0 as PiKVM and JetKVM ship it: dwc2 floods the log with halts and dwc3 can oops on them.
    await writeAttr(path.join(this.#fn, 'stall'), 0);
    for (let n = 1; n < this.#slots; n++) await fs.mkdir(path.join(this.#fn, `lun.${n}`));
    for (let n = 0; n < this.#slots; n++) {
      const medium = media.get(n);
      if (medium) await this.insert(n, medium);
      else await this.#writeSettings(n, { cdrom: false, ro: false, nofua: g.nofua, inquiry: null });
    }
    await fs.symlink(this.#fn, path.join(config, FUNCTION));
    await this.#bind();
    this.#enumeratedCdrom = Array.from({ length: this.#slots }, (_, n) => media.get(n)?.cdrom ?? false);
    this.#log.info('gadget created', { gadget: this.#dir, udc: this.#opts.udc, slots: this.#slots, kernel_max_luns: this.#maxLuns, attached: media.size });
  }

  async adopt(): Promise<void> {
    await this.#probe();
    const views = (await this.inspect()) ?? [];
    this.#slots = views.length;
    this.#enumeratedCdrom = Array.from({ length: this.#slots }, (_, n) => views.find((v) => v.lun === n)?.cdrom ?? false);
    if (this.#slots !== Math.min(this.#opts.gadget.luns, this.#maxLuns)) {
      this.#log.warn('the adopted gadget has a different number of drive slots than gadget.luns; it changes at the next start with no drive attached', {
        slots: this.#slots,
        luns: this.#opts.gadget.luns,
      });
    }
    const link = path.join(this.#dir, 'configs', CONFIG, FUNCTION);
    const linked = await fs.lstat(link).then(() => true, () => false);
    const bound = (await readAttr(path.join(this.#dir, 'UDC'))) !== '';
    if (!linked) {
      if (bound) await writeAttr(path.join(this.#dir, 'UDC'), '');
      await fs.symlink(this.#fn, link);
    }
    if (!linked || !bound) await this.#bind();
    this.#log.info('gadget adopted', { gadget: this.#dir, udc: this.#opts.udc, slots: this.#slots, was_bound: bound, was_linked: linked });
  }

  enumeratedCdrom(lun: number): boolean {
    return this.#enumeratedCdrom[lun] ?? false;
  }

  async insert(lun: number, medium: Medium): Promise<void> {
    await this.#writeSettings(lun, medium);
    try {
      await writeAttr(this.#lun(lun, 'file'), medium.file);
    } catch (err) {
      throw kernelRefusal(err, medium.file);
    }
  }

  /** ro, cdrom and the rest only change while no file is open; cdrom also resets ro, so it goes first. */
  async #writeSettings(lun: number, s: { cdrom: boolean; ro: boolean; nofua: boolean; inquiry: string | null }): Promise<void> {
    await writeAttr(this.#lun(lun, 'removable'), 1);
    await writeAttr(this.#lun(lun, 'cdrom'), s.cdrom ? 1 : 0);
    await writeAttr(this.#lun(lun, 'ro'), s.ro ? 1 : 0);
    await writeAttr(this.#lun(lun, 'nofua'), s.nofua ? 1 : 0);
    if (s.inquiry !== null && this.#caps.inquiry_string) await writeAttr(this.#lun(lun, 'inquiry_string'), s.inquiry);
  }

  async remove(lun: number, force: boolean): Promise<EjectMethod> {
    const file = this.#lun(lun, 'file');
    try {
      await writeAttr(file, '');
      return 'file';
    } catch (err) {
      if (errnoOf(err) !== 'EBUSY') throw err;
      if (!force) throw new MediumLocked(lun);
      this.#log.info('eject: the host locked the medium; overriding', { lun });
    }
    if (this.#caps.forced_eject) {
      await writeAttr(this.#lun(lun, 'forced_eject'), 1);
      if ((await this.serving(lun)) === null) return 'forced_eject';
      this.#log.warn('eject: forced_eject left the medium loaded', { lun });
    }
    if (this.#caps.soft_connect) {
      const method = await this.#softConnectEject(lun);
      if (method) return method;
    }
    await this.#rebind(async () => {
      // The disconnect reset cleared the host's lock, so the plain write now succeeds.
      if ((await this.serving(lun)) !== null) await writeAttr(file, '');
    });
    if ((await this.serving(lun)) !== null) throw new PiDriveError('internal', `LUN ${lun} still serves its medium after every eject method`);
    return 'rebind';
  }

  /**
   * JetKVM's force eject: a logical unplug resets the host's lock. It only counts when the UDC shows
   * the host leaving and coming back; dummy_udc keeps saying `configured` and its hosts never
   * return after `connect`, so there (and whenever the reconnect is not seen) a rebind finishes.
   */
  async #softConnectEject(lun: number): Promise<EjectMethod | null> {
    const softConnect = path.join(this.#udcDir, 'soft_connect');
    await writeAttr(softConnect, 'disconnect');
    let left = false;
    try {
      left = await this.#waitState((s) => s !== 'configured', 1000);
      await writeAttr(this.#lun(lun, 'file'), '').catch((err: unknown) => this.#log.warn('eject: file write failed while disconnected', { lun, err }));
    } finally {
      await writeAttr(softConnect, 'connect');
    }
    if ((await this.serving(lun)) !== null) return null;
    if (left && (await this.#waitState((s) => s === 'configured', RECONNECT_TIMEOUT_MS))) return 'soft_connect';
    this.#log.warn('eject: the host was not seen reconnecting after soft_connect; rebinding', { lun, saw_disconnect: left });
    await this.#rebind(async () => {});
    return 'rebind';
  }

  async #waitState(ok: (state: string | null) => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (ok(await this.#udcState())) return true;
      if (performance.now() > deadline) return false;
      await sleep(50);
    }
  }

  async reenumerate(): Promise<void> {
    await this.#rebind(async () => {});
  }

  /**
   * Unbind, unlink and relink the function, bind: the Raspberry Pi's dwc2 needs the relink after
   * an unbind (pikvm/pikvm#1235). The host loses every LUN for a moment and reads each LUN's device
   * type again, which is the only way a LUN turns from disk into CD-ROM on the host side.
   */
  async #rebind(whileUnbound: () => Promise<void>): Promise<void> {
    const link = path.join(this.#dir, 'configs', CONFIG, FUNCTION);
    await writeAttr(path.join(this.#dir, 'UDC'), '');
    try {
      await whileUnbound();
    } finally {
      await fs.unlink(link);
      await fs.symlink(this.#fn, link);
      await this.#bind();
    }
    for (let n = 0; n < this.#slots; n++) this.#enumeratedCdrom[n] = (await readAttr(this.#lun(n, 'cdrom'))) === '1';
  }

  async serving(lun: number): Promise<string | null> {
    const file = await readAttr(this.#lun(lun, 'file'));
    return file === '' ? null : file;
  }

  async sampleHost(): Promise<HostSample> {
    return { udcState: await this.#udcState(), writeCounter: await this.#counter.read() };
  }

  async #udcState(): Promise<string | null> {
    return readAttr(path.join(this.#udcDir, 'state')).catch(() => null);
  }

  async #bind(): Promise<void> {
    try {
      await writeAttr(path.join(this.#dir, 'UDC'), this.#opts.udc);
    } catch (err) {
      if (errnoOf(err) === 'EBUSY') {
        for (const other of await list(this.#gadgets)) {
          if (other === this.#opts.gadget.name) continue;
          const udc = await readAttr(path.join(this.#gadgets, other, 'UDC')).catch(() => '');
          if (udc === this.#opts.udc) {
            throw new PiDriveError('unavailable', `USB device controller ${udc} is already used by another gadget (${path.join(this.#gadgets, other)}); remove it or choose another gadget.udc`, {
              'gadget.udc': 'in use by another gadget',
            });
          }
        }
      }
      throw new PiDriveError('unavailable', `binding the gadget to ${this.#opts.udc} failed (${errnoOf(err) ?? String(err)})`, { 'gadget.udc': 'bind failed' });
    }
  }

  /**
   * Kernel limits and optional attributes, learnt on a scratch function so the live gadget is never
   * touched: `mkdir lun.N` beyond the limit fails with ERANGE; a missing attribute simply is not there.
   */
  async #probe(): Promise<void> {
    const scratch = path.join(this.#gadgets, `${this.#opts.gadget.name}-probe`);
    await teardown(scratch);
    await fs.mkdir(scratch);
    try {
      const fn = path.join(scratch, 'functions', 'mass_storage.probe');
      await fs.mkdir(fn);
      this.#maxLuns = 1;
      for (const limit of LUN_LIMITS) {
        const lun = path.join(fn, `lun.${limit - 1}`);
        try {
          await fs.mkdir(lun);
        } catch (err) {
          if (errnoOf(err) === 'ERANGE' || errnoOf(err) === 'EINVAL') continue;
          throw err;
        }
        await fs.rmdir(lun);
        this.#maxLuns = limit;
        break;
      }
      const ignored = new Set(this.#opts.ignoreAttributes ?? []);
      const has = async (file: string): Promise<boolean> => !ignored.has(path.basename(file)) && (await exists(file));
      this.#caps = {
        forced_eject: await has(path.join(fn, 'lun.0', 'forced_eject')),
        inquiry_string: await has(path.join(fn, 'lun.0', 'inquiry_string')),
        soft_connect: await has(path.join(this.#udcDir, 'soft_connect')),
      };
    } finally {
      await teardown(scratch);
    }
  }
}

/** 256·60·75 − 1 sectors of 2048 B: the kernel cuts a larger CD-ROM image there without failing. */
export const CDROM_MAX_BYTES = (256 * 60 * 75 - 1) * 2048;
/** The kernel refuses a CD-ROM image below 300 sectors (its smallest track). */
export const CDROM_MIN_BYTES = 300 * 2048;

function kernelRefusal(err: unknown, file: string): PiDriveError {
  const code = errnoOf(err);
  if (code === 'ENOENT') return new PiDriveError('unavailable', `the image ${file} does not exist`);
  if (code === 'EBUSY') return new PiDriveError('conflict', 'the drive slot still serves another medium');
  if (code === 'EINVAL') return new PiDriveError('bad_request', `the kernel refused the image ${file} (too small, or not a regular file or block device)`);
  return new PiDriveError('internal', `the kernel refused the image ${file} (${code ?? String(err)})`);
}

/**
 * Removes a gadget in the only order configfs accepts: unbind, config→function links, config
 * strings, configs, extra LUNs, functions, strings, the gadget. lun.0 and the other default groups
 * go with their parents; loaded modules stay.
 */
export async function teardown(dir: string): Promise<void> {
  if (!(await exists(dir))) return;
  const udc = path.join(dir, 'UDC');
  if ((await readAttr(udc).catch(() => '')) !== '') await writeAttr(udc, '');
  const unlinkAll = async (d: string): Promise<void> => {
    for (const e of await list(d)) {
      const p = path.join(d, e);
      if ((await fs.lstat(p)).isSymbolicLink()) await fs.unlink(p);
    }
  };
  await unlinkAll(path.join(dir, 'os_desc'));
  for (const c of await list(path.join(dir, 'configs'))) {
    const config = path.join(dir, 'configs', c);
    await unlinkAll(config);
    for (const s of await list(path.join(config, 'strings'))) await fs.rmdir(path.join(config, 'strings', s));
    await fs.rmdir(config);
  }
  for (const f of await list(path.join(dir, 'functions'))) {
    const fn = path.join(dir, 'functions', f);
    for (const e of await list(fn)) if (/^lun\.[1-9]\d*$/.test(e)) await fs.rmdir(path.join(fn, e));
    await fs.rmdir(fn);
  }
  for (const s of await list(path.join(dir, 'strings'))) await fs.rmdir(path.join(dir, 'strings', s));
  await fs.rmdir(dir);
}
