import crypto from 'node:crypto';
import type { Config } from '../config/schema.ts';
import type { Clock } from '../core/clock.ts';
import type { EventBus } from '../core/event-bus.ts';
import type { Logger } from '../core/logger.ts';
import type { Extension } from '../context.ts';
import type { DriveService } from '../drives/service.ts';
import type { EventsRepo } from '../store/events-repo.ts';
import { Attachments } from './attachments.ts';
import { ConfigfsBackend } from './configfs.ts';
import { selectBackend } from './select.ts';
import { SimulatedBackend } from './simulated.ts';
import type { AttachmentControl } from './types.ts';

export interface GadgetDeps {
  config: Config;
  dataDir: string;
  log: Logger;
  bus: EventBus;
  clock: Clock;
  drives: DriveService;
  events: EventsRepo;
}

/** A stable USB serial number per bridge, so hosts recognise the device after a reinstall. */
export function defaultSerial(bridgeId: string): string {
  return crypto.createHash('sha256').update(`pidrive:${bridgeId}`).digest('hex').slice(0, 16).toUpperCase();
}

/**
 * The USB gadget: picks the backend (throws PiDriveError 'unavailable' naming the fix when configfs
 * was asked for and cannot work), and returns the live control for the API/MQTT/CLI plus the
 * extension whose start() builds or adopts the gadget. Nothing outside bridge/gadget/ touches /sys.
 */
export function createGadget(deps: GadgetDeps): { attachments: AttachmentControl; extension: Extension } {
  const gadget = deps.config.gadget;
  const log = deps.log.child({ module: 'gadget' });
  const selection = selectBackend(gadget);
  const backend =
    selection.kind === 'configfs'
      ? new ConfigfsBackend({ gadget, udc: selection.udc!, serial: gadget.serial ?? defaultSerial(deps.config.bridge.id), log })
      : new SimulatedBackend(gadget.luns);
  const attachments = new Attachments({ backend, selection, gadget, drives: deps.drives, history: deps.events, bus: deps.bus, clock: deps.clock, log });
  return { attachments, extension: attachments };
}
