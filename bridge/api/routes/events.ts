import { z } from 'zod';
import { wholeBridgeAdmin, type Principal } from '../../auth/principal.ts';
import { DriveId } from '../../drives/model.ts';
import { HistoryEvent } from '../../store/events-repo.ts';
import type { ApiDeps } from '../route.ts';
import { defineRoute, type AnyRoute } from '../route.ts';
import { visibleDrive } from '../drive-access.ts';

const EventsQuery = z
  .object({
    since: z.coerce.number().int().nonnegative().optional().describe('only events with a larger id (page with the last id you saw)'),
    limit: z.coerce.number().int().min(1).max(1000).default(200),
    drive: DriveId.optional().describe('only this drive\'s events'),
  })
  .strict();

/**
 * Admins (and unlimited admin tokens) read everything. Everyone else reads the events of the
 * drives they may see plus bridge-wide state events; bridge-wide audit entries (users, tokens,
 * logins) stay with admins.
 */
function readEvents(deps: ApiDeps, principal: Principal, q: z.infer<typeof EventsQuery>): HistoryEvent[] {
  const all = wholeBridgeAdmin(principal);
  const drives = q.drive !== undefined ? [q.drive] : all ? undefined : deps.auth.visible(principal, deps.ctx.drives.list()).map((d) => d.id);
  const out: HistoryEvent[] = [];
  let since = q.since ?? 0;
  // Filtering after the query can thin a page out; keep reading until the page is full or history ends.
  for (;;) {
    const page = deps.ctx.events.list({ since, limit: q.limit, ...(drives && { drives }) });
    for (const e of page) {
      if (q.drive !== undefined && e.drive !== q.drive) continue;
      if (!all && e.drive === null && e.kind === 'audit') continue;
      out.push(e);
      if (out.length === q.limit) return out;
    }
    if (page.length < q.limit) return out;
    since = page[page.length - 1]!.id;
  }
}

export const eventRoutes: AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/events',
    summary: 'Audit and state history, oldest first, after `since`',
    access: 'viewer',
    query: EventsQuery,
    response: z.array(HistoryEvent),
    handler({ deps, principal, query }) {
      if (query.drive !== undefined) visibleDrive(deps, principal, query.drive);
      return readEvents(deps, principal, query);
    },
  }),
];
