import type { Logger } from './logger.ts';
import type { DriveEvent, HostState } from '../drives/model.ts';

/**
 * Everything that happens inside the bridge, as typed events. Capabilities publish here and never
 * call the MQTT, API or UI layers directly; those subscribe (zigbee2mqtt's EventBus pattern).
 */
export interface BusEvents {
  /** A drive was registered (created, imported, restored into a new drive). */
  drive_added: { id: string };
  /** A drive was unregistered; its image may or may not be gone. */
  drive_removed: { id: string };
  /** Anything in a drive's published state may have changed: consumers re-read the drive view. */
  drive_state: { id: string };
  /** A per-drive event for the contract's `drive/<id>/event` topic (attached, backup_completed, ...). */
  drive_event: DriveEvent;
  /** The USB host's view changed (connected / writing / idle). */
  host_state: HostState;
  /** Bridge-level info changed (gadget backend, drive count, broker state). */
  bridge_info: Record<string, never>;
  /** A long operation changed state or made progress; `job` is the job object of the API. */
  job: { job: Record<string, unknown> & { id: string; drive?: string | null } };
  /** An audit entry was appended (who did what, to which drive, from where). */
  audit: { id: number; action: string; actor: string; drive: string | null };
}

export type BusEventName = keyof BusEvents;
type Handler<K extends BusEventName> = (payload: BusEvents[K]) => void | Promise<void>;

interface Listener {
  owner: object;
  event: BusEventName;
  handler: Handler<BusEventName>;
}

export class EventBus {
  readonly #listeners: Listener[] = [];
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  on<K extends BusEventName>(owner: object, event: K, handler: Handler<K>): void {
    this.#listeners.push({ owner, event, handler: handler as Handler<BusEventName> });
  }

  /** Drops every listener an extension registered, so stop() needs no bookkeeping of its own. */
  removeListeners(owner: object): void {
    for (let i = this.#listeners.length - 1; i >= 0; i--) {
      if (this.#listeners[i]!.owner === owner) this.#listeners.splice(i, 1);
    }
  }

  /** One failing listener is logged and never breaks the emitter or the other listeners. */
  emit<K extends BusEventName>(event: K, payload: BusEvents[K]): void {
    for (const l of [...this.#listeners]) {
      if (l.event !== event) continue;
      const fail = (err: unknown): void =>
        this.#log.error('event listener failed', { event, owner: l.owner.constructor.name, err });
      try {
        const result = l.handler(payload);
        if (result instanceof Promise) result.catch(fail);
      } catch (err) {
        fail(err);
      }
    }
  }
}
