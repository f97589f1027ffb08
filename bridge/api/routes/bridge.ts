import { z } from 'zod';
import { BridgeInfoPayload, bridgeInfoPayload } from '../../mqtt/payloads.ts';
import type { Principal } from '../../auth/principal.ts';
import { defineRoute, type AnyRoute, type ApiDeps } from '../route.ts';

const Health = z.object({ status: z.literal('ok') });

/** The MQTT `bridge/info` payload plus the bridge id and the MQTT link state. */
export const BridgeInfo = BridgeInfoPayload.extend({
  id: z.string(),
  host_write_rate_bps: z.number().nonnegative().describe('bytes per second the USB host writes, over the last samples (live; not in the retained MQTT message, which would be stale)'),
  mqtt: z.object({ connected: z.boolean() }).nullable().describe('null while the MQTT extension is not running'),
});
export type BridgeInfo = z.infer<typeof BridgeInfo>;

/** As the caller sees it: the counts cover only the drives it may see. */
export function bridgeInfo(deps: ApiDeps, principal: Principal): BridgeInfo {
  const { ctx } = deps;
  const mqtt = deps.mqttStatus();
  const host = ctx.attachments.hostState();
  return {
    id: ctx.config.bridge.id,
    host_write_rate_bps: host.write_rate_bps,
    ...bridgeInfoPayload({
      version: ctx.version,
      gadget: ctx.attachments.info(),
      drives: deps.auth.visible(principal, ctx.drives.list()),
      host,
      broker: ctx.config.mqtt.url === '' ? 'embedded' : 'external',
    }),
    mqtt: mqtt ? { connected: mqtt.connected } : null,
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
    summary: 'Bridge id, version, gadget backend and capabilities, UDC, host state, MQTT state',
    access: 'viewer',
    response: BridgeInfo,
    handler: ({ deps, principal }) => bridgeInfo(deps, principal),
  }),
];
