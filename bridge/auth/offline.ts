import { systemClock } from '../core/clock.ts';
import type { Config } from '../config/schema.ts';
import type { Store } from '../store/database.ts';
import type { EventsRepo } from '../store/events-repo.ts';
import { AuthService } from './service.ts';

/** The auth service on a data directory the CLI holds offline, plus audit entries in the CLI's name. */
export function offlineAuth(ctx: { store: Store; config: Config; events: EventsRepo }): {
  auth: AuthService;
  audit: (action: string, details: Record<string, unknown>) => void;
} {
  return {
    auth: new AuthService(ctx.store, ctx.config.auth, systemClock),
    audit: (action, details) => void ctx.events.append({ kind: 'audit', action, actor: 'local', source: 'cli', details }),
  };
}
