import { systemClock, type Clock } from './core/clock.ts';
import { acquireDataLock } from './core/data-lock.ts';
import { EventBus } from './core/event-bus.ts';
import type { Logger } from './core/logger.ts';
import type { Config } from './config/schema.ts';
import { Store } from './store/database.ts';
import { EventsRepo } from './store/events-repo.ts';
import { PoolRegistry } from './pools/registry.ts';
import { DriveService } from './drives/service.ts';
import { createGadget } from './gadget/index.ts';
import type { BridgeContext, Extension, RestartControl } from './context.ts';
import { VERSION } from './version.ts';
import { ApiExtension } from './api/extension.ts';
import { MqttExtension } from './mqtt/extension.ts';
import { createBackup } from './backup/index.ts';

export interface BridgeOptions {
  config: Config;
  dataDir: string;
  log: Logger;
  clock?: Clock;
  /** How a restart is checked and done (`pidrive start` restarts in process). */
  restart: RestartControl;
}

/**
 * Builds the context once, starts extensions in order and stops them in reverse
 * (zigbee2mqtt's Controller). The gadget comes first so that a drive attached before a crash is
 * adopted before anything publishes its state.
 */
export class Bridge {
  readonly context: BridgeContext;
  readonly #extensions: Extension[] = [];
  readonly #release: () => void;
  #started: Extension[] = [];

  constructor(options: BridgeOptions) {
    const { config, dataDir, log } = options;
    this.#release = acquireDataLock(dataDir, 'pidrive start');
    try {
      const bus = new EventBus(log);
      const store = new Store(dataDir);
      const events = new EventsRepo(store, bus);
      const pools = new PoolRegistry(store, dataDir, config.pools);
      const drives = new DriveService({ store, pools, bus, events, log: log.child({ module: 'drives' }) });
      const clock = options.clock ?? systemClock;
      const gadget = createGadget({ config, dataDir, log: log.child({ module: 'gadget' }), bus, clock, drives, events });
      this.context = {
        config,
        dataDir,
        version: VERSION,
        log,
        bus,
        clock,
        store,
        events,
        pools,
        drives,
        attachments: gadget.attachments,
        restart: options.restart,
      };
      const backup = createBackup({ config, dataDir, log: log.child({ module: 'backup' }), bus, clock, store, events, drives, attachments: gadget.attachments });
      drives.setViewSources({ hostState: () => gadget.attachments.hostState(), backupInfo: (id) => backup.backup.driveBackupInfo(id) });
      this.#extensions.push(gadget.extension, backup.extension);
      const mqtt = new MqttExtension(this.context, { backup: backup.backup });
      this.#extensions.push(new ApiExtension(this.context, { mqttStatus: () => mqtt.status, backup: backup.backup }));
      this.#extensions.push(mqtt);
    } catch (err) {
      this.#release();
      throw err;
    }
  }

  async start(): Promise<void> {
    const { log, drives } = this.context;
    const fixed = drives.reconcile();
    log.info('bridge starting', { version: VERSION, bridge_id: this.context.config.bridge.id, data_dir: this.context.dataDir, reconciled: fixed.length });
    for (const ext of this.#extensions) {
      try {
        await ext.start();
      } catch (err) {
        // What it opened before failing (a socket, a timer) would keep the process alive with no bridge.
        await this.#stopOne(ext);
        throw err;
      }
      this.#started.push(ext);
      log.debug('extension started', { extension: ext.name });
    }
    if (this.context.config.homeassistant.websocket_url) {
      log.warn('homeassistant.websocket_url is set but this version has no Home Assistant WebSocket link; MQTT discovery carries everything');
    }
    log.info('bridge started', { drives: drives.list().length });
  }

  async stop(): Promise<void> {
    for (const ext of this.#started.reverse()) await this.#stopOne(ext);
    this.#started = [];
    this.context.store.close();
    this.#release();
    this.context.log.info('bridge stopped');
  }

  async #stopOne(ext: Extension): Promise<void> {
    try {
      await ext.stop();
    } catch (err) {
      this.context.log.error('extension failed to stop', { extension: ext.name, err });
    }
  }
}
