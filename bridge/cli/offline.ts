import fs from 'node:fs';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { acquireDataLock, lockHolder } from '../core/data-lock.ts';
import { EventBus } from '../core/event-bus.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { DriveService } from '../drives/service.ts';
import { PoolRegistry } from '../pools/registry.ts';
import { Store } from '../store/database.ts';
import { EventsRepo } from '../store/events-repo.ts';
import { bridgeRequest, socketPath } from './control-client.ts';
import type { GlobalOptions } from './command.ts';

export interface OfflineContext {
  config: Config;
  dataDir: string;
  log: Logger;
  store: Store;
  events: EventsRepo;
  pools: PoolRegistry;
  drives: DriveService;
}

/** Config and data directory as the daemon would resolve them. */
export function resolveGlobals(globals: GlobalOptions): { config: Config; dataDir: string } {
  const { config, dataDir } = loadConfig({ dataDir: globals.dataDir, configFile: globals.config });
  return { config, dataDir };
}

/** True when a live bridge holds the data directory and listens on its control socket. */
export function bridgeRunning(dataDir: string): boolean {
  return lockHolder(dataDir) !== null && fs.existsSync(socketPath(dataDir));
}

/** Runs `fn` on the data directory under its lock (refused while the bridge runs: it owns the data). */
export async function withOffline<T>(globals: GlobalOptions, fn: (ctx: OfflineContext) => Promise<T>): Promise<T> {
  const { config, dataDir } = resolveGlobals(globals);
  const release = acquireDataLock(dataDir, 'pidrive');
  const log = createLogger({ level: 'warn', format: 'pretty' });
  const store = new Store(dataDir);
  try {
    const bus = new EventBus(log);
    const events = new EventsRepo(store, bus);
    const pools = new PoolRegistry(store, dataDir, config.pools);
    const drives = new DriveService({ store, pools, bus, events, log });
    drives.reconcile();
    return await fn({ config, dataDir, log, store, events, pools, drives });
  } finally {
    store.close();
    release();
  }
}

/**
 * The one rule for commands that change drives: through the running bridge when there is one (so
 * MQTT, Home Assistant and the API see the change at once), directly on the data directory otherwise.
 */
export async function viaBridgeOrOffline<T>(
  globals: GlobalOptions,
  viaBridge: (request: <R>(method: string, path: string, body?: unknown) => Promise<R>) => Promise<T>,
  offline: (ctx: OfflineContext) => Promise<T>,
): Promise<T> {
  const { dataDir } = resolveGlobals(globals);
  if (bridgeRunning(dataDir)) return viaBridge((method, path, body) => bridgeRequest(dataDir, method, path, body));
  return withOffline(globals, offline);
}
