import fs from 'node:fs/promises';
import type { Config } from '../config/schema.ts';
import type { Clock } from '../core/clock.ts';
import { PiDriveError, fromZodIssues } from '../core/errors.ts';
import type { EventBus } from '../core/event-bus.ts';
import type { Logger } from '../core/logger.ts';
import { DriveMode, type DriveRecord, type HostState } from '../drives/model.ts';
import type { Extension } from '../context.ts';
import { MediumLocked, type GadgetBackend, type LunView, type Medium } from './backend.ts';
import { CDROM_MAX_BYTES, CDROM_MIN_BYTES } from './configfs.ts';
import { HostTracker } from './host-tracker.ts';
import type { Selection } from './select.ts';
import { AttachOptions, type AttachmentControl, type EjectMethod, type GadgetInfo } from './types.ts';

/** The parts of DriveService the gadget uses. */
export interface GadgetDrives {
  get(id: string): DriveRecord;
  list(): DriveRecord[];
  imagePath(record: DriveRecord): string;
  attaching<T>(id: string, fn: () => Promise<T>): Promise<T>;
  setRuntime(id: string, patch: { attached?: boolean; lun?: number | null; mode?: DriveMode }): DriveRecord;
}

/** The part of EventsRepo the gadget uses: state history rows. */
export interface GadgetHistory {
  append(event: { kind: 'state'; action: string; actor: string; drive?: string | null; source?: string | null; details?: Record<string, unknown> }): unknown;
}

export interface AttachmentsDeps {
  backend: GadgetBackend;
  selection: Selection;
  gadget: Config['gadget'];
  drives: GadgetDrives;
  history: GadgetHistory;
  bus: EventBus;
  clock: Clock;
  log: Logger;
}

const ACTOR = 'gadget';

/**
 * Which drive sits in which LUN, kept in step with the database. The database records what the
 * user asked for; every change is ordered so that a kill -9 between the gadget and the database
 * leaves "detached" in the database, and the next start removes what it does not know.
 * All operations run one at a time.
 */
export class Attachments implements AttachmentControl, Extension {
  readonly name = 'gadget';
  readonly #d: AttachmentsDeps;
  readonly #tracker: HostTracker;
  /** LUN → drive id, for what this process put into (or adopted from) the gadget. */
  readonly #slots = new Map<number, string>();
  #queue: Promise<unknown> = Promise.resolve();
  #started = false;
  #timer: { cancel(): void } | null = null;
  #polling: Promise<void> | null = null;

  constructor(deps: AttachmentsDeps) {
    this.#d = deps;
    this.#tracker = new HostTracker({
      idleAfterS: deps.gadget.host_idle_s,
      writingWindowMs: Math.max(3000, 2 * deps.gadget.host_poll_ms),
    });
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  info(): GadgetInfo {
    return { backend: this.#d.backend.kind, reason: this.#d.selection.reason, ...this.#d.backend.info() };
  }

  hostState(): HostState {
    return this.#tracker.state();
  }

  async start(): Promise<void> {
    await this.#serial(() => this.#startup());
    this.#started = true;
    const { selection, log } = this.#d;
    if (selection.kind === 'simulated') log.warn('USB GADGET IS SIMULATED: no drive reaches a USB host', { reason: selection.reason });
    // The first sample before start() returns: the host state is right from the first request on.
    await this.#poll();
    this.#d.bus.emit('bridge_info', {});
    this.#schedulePoll();
  }

  async stop(): Promise<void> {
    // The gadget stays bound: a host must never lose its drive because the daemon stops or restarts.
    this.#started = false;
    this.#timer?.cancel();
    this.#timer = null;
    await this.#polling;
    await this.#queue;
  }

  attach(id: string, options: AttachOptions = {}): Promise<DriveRecord> {
    const parsed = AttachOptions.safeParse(options);
    if (!parsed.success) return Promise.reject(fromZodIssues('bad_request', parsed.error.issues));
    return this.#serial(async () => {
      this.#requireStarted();
      const record = this.#d.drives.get(id);
      const mode = parsed.data.mode ?? record.mode;
      if (this.#lunOf(id) !== null) {
        if (mode !== record.mode) throw modeWhileAttached(id);
        return record;
      }
      return this.#d.drives.attaching(id, () => this.#attachNow(record, mode));
    });
  }

  /** Inside the queue. Gadget first: a crash before the database write leaves it detached. */
  async #attachNow(record: DriveRecord, mode: DriveMode): Promise<DriveRecord> {
    const id = record.id;
    const medium = await this.#medium(record, mode);
    const lun = this.#freeSlot(medium.cdrom);
    const reenumerate = this.#d.backend.enumeratedCdrom(lun) !== medium.cdrom;
    if (reenumerate) this.#checkReenumeration(id, mode);
    await this.#d.backend.insert(lun, medium);
    this.#slots.set(lun, id);
    let updated: DriveRecord;
    try {
      if (reenumerate) await this.#d.backend.reenumerate();
      updated = this.#d.drives.setRuntime(id, { attached: true, lun, mode });
    } catch (err) {
      this.#slots.delete(lun);
      await this.#d.backend.remove(lun, true).catch((e: unknown) => this.#d.log.error('could not undo a failed attach', { drive: id, lun, err: e }));
      throw err;
    }
    this.#d.log.info('drive attached', { drive: id, lun, mode, reenumerated: reenumerate });
    this.#d.history.append({ kind: 'state', action: 'drive.attached', actor: ACTOR, drive: id, details: { lun, mode, reenumerated: reenumerate } });
    this.#d.bus.emit('drive_event', { drive: id, event_type: 'attached', mode, lun });
    return updated;
  }

  detach(id: string): Promise<{ drive: DriveRecord; method: EjectMethod }> {
    return this.#serial(() => this.#remove(id, false));
  }

  eject(id: string): Promise<{ drive: DriveRecord; method: EjectMethod }> {
    return this.#serial(() => this.#remove(id, true));
  }

  setMode(id: string, mode: DriveMode): Promise<DriveRecord> {
    const parsed = DriveMode.safeParse(mode);
    if (!parsed.success) return Promise.reject(fromZodIssues('bad_request', parsed.error.issues, 'mode'));
    return this.#serial(async () => {
      const record = this.#d.drives.get(id);
      if (record.attached || this.#lunOf(id) !== null) throw modeWhileAttached(id);
      if (record.mode === parsed.data) return record;
      if (parsed.data === 'cdrom') await this.#medium(record, 'cdrom');
      const updated = this.#d.drives.setRuntime(id, { mode: parsed.data });
      this.#d.history.append({ kind: 'state', action: 'drive.mode', actor: ACTOR, drive: id, details: { from: record.mode, to: parsed.data } });
      return updated;
    });
  }

  async #remove(id: string, force: boolean): Promise<{ drive: DriveRecord; method: EjectMethod }> {
    this.#requireStarted();
    const record = this.#d.drives.get(id);
    const lun = this.#lunOf(id);
    if (lun === null) {
      const drive = record.attached || record.lun !== null ? this.#d.drives.setRuntime(id, { attached: false, lun: null }) : record;
      return { drive, method: 'none' };
    }
    // Database first: after a crash between the two steps the next start removes the medium.
    this.#d.drives.setRuntime(id, { attached: false, lun: null });
    let method: EjectMethod;
    try {
      method = await this.#d.backend.remove(lun, force);
    } catch (err) {
      this.#d.drives.setRuntime(id, { attached: true, lun });
      if (err instanceof MediumLocked) {
        throw new PiDriveError('conflict', `the host is using drive "${id}" (it locked the medium, e.g. a mounted filesystem): eject it on the host first, or use eject to override`, {
          id: 'medium locked by the host',
        });
      }
      throw err;
    }
    this.#slots.delete(lun);
    this.#d.log.info(force ? 'drive ejected' : 'drive detached', { drive: id, lun, method });
    this.#d.history.append({ kind: 'state', action: force ? 'drive.ejected' : 'drive.detached', actor: ACTOR, drive: id, details: { lun, method } });
    this.#d.bus.emit('drive_event', { drive: id, event_type: 'detached', method, by: 'bridge' });
    return { drive: this.#d.drives.get(id), method };
  }

  #requireStarted(): void {
    if (!this.#started) throw new PiDriveError('unavailable', 'the USB gadget is not running (the bridge is starting or stopping)');
  }

  #lunOf(id: string): number | null {
    for (const [lun, drive] of this.#slots) if (drive === id) return lun;
    return null;
  }

  /** A free slot, preferring one the host already knows with the right device type (no re-enumeration). */
  #freeSlot(cdrom: boolean): number {
    const { slots } = this.#d.backend.info();
    const free = Array.from({ length: slots }, (_, n) => n).filter((n) => !this.#slots.has(n));
    const lun = free.find((n) => this.#d.backend.enumeratedCdrom(n) === cdrom) ?? free[0];
    if (lun === undefined) {
      throw new PiDriveError('conflict', `all ${slots} drive slots are in use; detach a drive first (gadget.luns sets the number of slots)`, { id: 'no free drive slot' });
    }
    return lun;
  }

  /** Switching a slot between disk and CD-ROM reconnects every drive; never under a writable drive the host uses. */
  #checkReenumeration(id: string, mode: DriveMode): void {
    if (!this.#tracker.state().host_connected) return;
    const writable = [...this.#slots.values()].filter((d) => this.#d.drives.get(d).mode === 'read_write');
    if (writable.length === 0) return;
    throw new PiDriveError(
      'conflict',
      `attaching "${id}" as ${mode} needs the USB host to re-enumerate the gadget (a slot changes between disk and CD-ROM), ` +
        `which would briefly disconnect the writable drive(s) ${writable.join(', ')}; detach them first`,
      { mode: 'needs re-enumeration while writable drives are attached' },
    );
  }

  /** Everything the kernel would refuse or silently get wrong, refused here with the reason. */
  async #medium(record: DriveRecord, mode: DriveMode): Promise<Medium> {
    const path = this.#d.drives.imagePath(record);
    const stat = await fs.stat(path).catch(() => null);
    if (!stat) throw new PiDriveError('unavailable', `the image of drive "${record.id}" is missing (${path})`, { id: 'image missing' });
    if (!stat.isFile() && !stat.isBlockDevice()) throw new PiDriveError('bad_request', `the image of drive "${record.id}" is not a regular file or block device`, { id: 'not an image' });
    const size = stat.isFile() ? stat.size : record.size_bytes;
    if (mode === 'cdrom') {
      if (size > CDROM_MAX_BYTES) {
        throw new PiDriveError(
          'too_large',
          `drive "${record.id}" is ${gib(size)}; the kernel serves CD-ROM images only up to ${gib(CDROM_MAX_BYTES)} (${CDROM_MAX_BYTES} bytes) and silently cuts off the rest; attach it as read_only instead`,
          { mode: 'image too large for cdrom' },
        );
      }
      if (size < CDROM_MIN_BYTES) throw new PiDriveError('bad_request', `drive "${record.id}" is smaller than the kernel's smallest CD-ROM (${CDROM_MIN_BYTES} bytes)`, { mode: 'image too small for cdrom' });
    } else if (size < 512) {
      throw new PiDriveError('bad_request', `drive "${record.id}" is smaller than one 512-byte sector`, { id: 'image too small' });
    }
    return {
      file: await fs.realpath(path),
      cdrom: mode === 'cdrom',
      ro: mode !== 'read_write',
      nofua: this.#d.gadget.nofua,
      inquiry: inquiryString(this.#d.gadget.manufacturer, record.label ?? record.id),
    };
  }

  /**
   * Start: adopt the gadget a previous run left (keeping every LUN that serves a drive the database
   * says is attached, untouched), remove media the database does not know, and attach what the
   * database wants but the gadget lacks (after a reboot: everything, loaded before the first bind).
   */
  async #startup(): Promise<void> {
    const { backend, drives, log } = this.#d;
    const records = drives.list();
    const wanted = records.filter((r) => r.attached);
    const views = await backend.inspect();
    const kept = views ? await this.#matchViews(views, wanted) : new Map<number, string>();
    this.#slots.clear();
    if (kept.size > 0) {
      await backend.adopt();
      for (const [lun, id] of kept) this.#slots.set(lun, id);
      for (const v of views ?? []) {
        if (v.file === null || kept.has(v.lun)) continue;
        log.warn('removing a medium the database does not know', { lun: v.lun, file: v.file });
        await backend.remove(v.lun, true);
      }
    } else {
      const media = new Map<number, Medium>();
      const slots = Math.min(this.#d.gadget.luns, backend.info().max_luns);
      for (const r of wanted) {
        if (media.size >= slots) break;
        const medium = await this.#medium(r, r.mode).catch((err: unknown) => this.#dropAttachment(r, err));
        if (!medium) continue;
        this.#slots.set(media.size, r.id);
        media.set(media.size, medium);
      }
      await backend.create(media);
    }
    // Re-read: drives dropped above are detached now.
    for (const r of drives.list()) {
      const lun = this.#lunOf(r.id);
      if (lun !== null) {
        if (!r.attached || r.lun !== lun) drives.setRuntime(r.id, { attached: true, lun });
      } else if (r.attached) {
        await this.#attachNow(r, r.mode).catch((err: unknown) => this.#dropAttachment(r, err));
      } else if (r.lun !== null) {
        drives.setRuntime(r.id, { lun: null });
      }
    }
    log.info('gadget ready', { backend: backend.kind, adopted: kept.size, attached: this.#slots.size, ...backend.info() });
  }

  /** LUNs that serve, in the right mode, a drive the database says is attached. */
  async #matchViews(views: LunView[], wanted: DriveRecord[]): Promise<Map<number, string>> {
    const byPath = new Map<string, DriveRecord>();
    for (const r of wanted) {
      const real = await fs.realpath(this.#d.drives.imagePath(r)).catch(() => null);
      if (real) byPath.set(real, r);
    }
    const kept = new Map<number, string>();
    for (const v of views) {
      const r = v.file === null ? undefined : byPath.get(v.file);
      if (!r || [...kept.values()].includes(r.id)) continue;
      const mode: DriveMode = v.cdrom ? 'cdrom' : v.ro ? 'read_only' : 'read_write';
      if (mode === r.mode) kept.set(v.lun, r.id);
    }
    return kept;
  }

  /** A drive the database wants attached cannot be: say so everywhere instead of pretending. */
  #dropAttachment(r: DriveRecord, err: unknown): null {
    const reason = err instanceof PiDriveError ? err.message : String(err);
    this.#d.log.error('cannot attach a drive the database marks attached; marking it detached', { drive: r.id, reason });
    this.#d.drives.setRuntime(r.id, { attached: false, lun: null });
    this.#d.history.append({ kind: 'state', action: 'drive.detached', actor: ACTOR, drive: r.id, details: { reason } });
    this.#d.bus.emit('drive_event', { drive: r.id, event_type: 'detached', by: 'bridge', reason });
    return null;
  }

  #schedulePoll(): void {
    if (!this.#started) return;
    this.#timer = this.#d.clock.setTimeout(() => {
      this.#polling = this.#poll().finally(() => {
        this.#polling = null;
        this.#schedulePoll();
      });
    }, this.#d.gadget.host_poll_ms);
  }

  /** One sample of the host: connected / writing / idle transitions, and media the host ejected itself. */
  async #poll(): Promise<void> {
    const { backend, bus, log } = this.#d;
    try {
      const update = this.#tracker.update(await backend.sampleHost(), this.#d.clock.monotonicMs());
      if (update.changed) {
        bus.emit('host_state', update.state);
        for (const id of this.#slots.values()) bus.emit('drive_state', { id });
      }
      for (const event of update.events) {
        log.info(event.replace('_', ' '), { attached: [...this.#slots.values()] });
        this.#d.history.append({ kind: 'state', action: `host.${event.slice(5)}`, actor: ACTOR, details: {} });
        for (const id of this.#slots.values()) bus.emit('drive_event', { drive: id, event_type: event });
      }
      await this.#serial(() => this.#noticeHostEjects());
    } catch (err) {
      log.error('host state sampling failed', { err });
    }
  }

  /** A host may eject a removable medium itself (START STOP UNIT): the kernel then closes the file. */
  async #noticeHostEjects(): Promise<void> {
    for (const [lun, id] of [...this.#slots]) {
      if ((await this.#d.backend.serving(lun)) !== null) continue;
      this.#slots.delete(lun);
      this.#d.log.info('the host ejected a drive', { drive: id, lun });
      this.#d.drives.setRuntime(id, { attached: false, lun: null });
      this.#d.history.append({ kind: 'state', action: 'drive.detached', actor: ACTOR, drive: id, details: { lun, by: 'host' } });
      this.#d.bus.emit('drive_event', { drive: id, event_type: 'detached', by: 'host' });
    }
  }
}

function modeWhileAttached(id: string): PiDriveError {
  return new PiDriveError('conflict', `drive "${id}" is attached; detach it before changing its mode (the kernel refuses read-only/CD-ROM changes while the medium is open)`, {
    mode: 'only while detached',
  });
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

/** SCSI INQUIRY vendor (8) + product (16) + revision (4), printable ASCII only. */
export function inquiryString(vendor: string, product: string): string {
  const ascii = (s: string): string => s.replace(/[^\x20-\x7e]/g, '_');
  return ascii(vendor).slice(0, 8).padEnd(8) + ascii(product).slice(0, 16).padEnd(16) + '0100';
}
