import type { Clock } from './core/clock.ts';
import type { EventBus } from './core/event-bus.ts';
import type { Logger } from './core/logger.ts';
import type { Config } from './config/schema.ts';
import type { Store } from './store/database.ts';
import type { EventsRepo } from './store/events-repo.ts';
import type { PoolRegistry } from './pools/registry.ts';
import type { DriveService } from './drives/service.ts';
import type { AttachmentControl } from './gadget/types.ts';

/** What every extension receives: the bridge's services, wired once by the controller. */
export interface BridgeContext {
  readonly config: Config;
  readonly dataDir: string;
  readonly version: string;
  readonly log: Logger;
  readonly bus: EventBus;
  readonly clock: Clock;
  readonly store: Store;
  readonly events: EventsRepo;
  readonly pools: PoolRegistry;
  readonly drives: DriveService;
  readonly attachments: AttachmentControl;
  /** The HA "Restart" button and the `restart` request. */
  readonly restart: RestartControl;
}

export interface RestartControl {
  /** Throws (naming the problem) when a restart now would be refused, e.g. an invalid configuration. */
  check(): void;
  /** Stops the bridge and starts it again with the configuration read anew. */
  request(): void;
}

/**
 * A part of the bridge with a lifetime. The constructor only keeps references; start() subscribes
 * and opens resources; stop() undoes start() (bus.removeListeners(this), close servers).
 */
export interface Extension {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}
