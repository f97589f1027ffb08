import { EventBus } from '../../bridge/core/event-bus.ts';
import { createLogger } from '../../bridge/core/logger.ts';
import { DriveService } from '../../bridge/drives/service.ts';
import { PoolRegistry } from '../../bridge/pools/registry.ts';
import { Store } from '../../bridge/store/database.ts';
import { EventsRepo } from '../../bridge/store/events-repo.ts';

/** The real drive stack on a data directory, without the daemon around it. */
export function openDrives(dataDir: string, pools: Record<string, { path: string }> = {}) {
  const log = createLogger({ level: 'error', format: 'json' });
  const store = new Store(dataDir);
  const bus = new EventBus(log);
  const events = new EventsRepo(store, bus);
  const registry = new PoolRegistry(store, dataDir, pools);
  const drives = new DriveService({ store, pools: registry, bus, events, log });
  return { store, bus, events, pools: registry, drives, close: () => store.close() };
}

export const LOCAL = { actor: 'local', source: 'test' };
