import { systemClock } from '../core/clock.ts';
import type { Config } from '../config/schema.ts';
import type { Store } from '../store/database.ts';
import type { EventsRepo } from '../store/events-repo.ts';
import { AuthService } from './service.ts';

type Audit = (action: string, details: Record<string, unknown>) => void;

/**
 * Wraps an offline CLI action on users or tokens: it gets the auth service on the data directory
 * the CLI holds, and an audit writer in the CLI's name.
 */
export function offlineAuth<T>(
  fn: (auth: AuthService, audit: Audit) => T | Promise<T>,
): (ctx: { store: Store; config: Config; events: EventsRepo }) => Promise<T> {
  return async (ctx) =>
    fn(new AuthService(ctx.store, ctx.config.auth, systemClock), (action, details) =>
      void ctx.events.append({ kind: 'audit', action, actor: 'local', source: 'cli', details }),
    );
}
