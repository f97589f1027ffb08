import { z } from 'zod';
import { HostState } from '../../drives/model.ts';
import { GadgetInfo } from '../../gadget/types.ts';
import type { Principal } from '../../auth/principal.ts';
import { defineRoute, type AnyRoute, type ApiDeps } from '../route.ts';

const Health = z.object({ status: z.literal('ok') });

export const BridgeInfo = z.object({
  id: z.string(),
  version: z.string(),
  gadget: GadgetInfo,
  host: HostState,
  /** Drives the caller may see, and how many of them are attached. */
  drive_count: z.number().int().nonnegative(),
  attached_count: z.number().int().nonnegative(),
});
export type BridgeInfo = z.infer<typeof BridgeInfo>;

/** As the caller sees it: the counts cover only the drives it may see. */
export function bridgeInfo(deps: ApiDeps, principal: Principal): BridgeInfo {
  const drives = deps.auth.visible(principal, deps.ctx.drives.list());
  return {
    id: deps.ctx.config.bridge.id,
    version: deps.ctx.version,
    gadget: deps.ctx.attachments.info(),
    host: deps.ctx.attachments.hostState(),
    drive_count: drives.length,
    attached_count: drives.filter((d) => d.attached).length,
  };
}

export const bridgeRoutes: AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/health',
    summary: 'Liveness probe (no credentials needed)',
    access: 'public',
    response: Health,
    handler: () => ({ status: 'ok' as const }),
  }),
  defineRoute({
    method: 'get',
    path: '/bridge',
    summary: 'Bridge id, version, gadget backend and capabilities, UDC, host state',
    access: 'viewer',
    response: BridgeInfo,
    handler: ({ deps, principal }) => bridgeInfo(deps, principal),
  }),
];
