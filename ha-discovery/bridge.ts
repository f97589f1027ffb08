import { bridgeNodeId } from './ids.ts';
import { entityMessage, type DiscoveryContext, type EntitySpec } from './messages.ts';
import type { DeviceInfo, DiscoveryMessage } from './schemas.ts';

export function bridgeDevice(ctx: DiscoveryContext): DeviceInfo {
  return {
    identifiers: [bridgeNodeId(ctx.bridgeId)],
    name: `PiDrive ${ctx.bridgeId}`,
    manufacturer: 'PiDrive',
    model: 'Bridge',
    sw_version: ctx.version,
    ...(ctx.webUrl ? { configuration_url: ctx.webUrl } : {}),
  };
}

/** The bridge's own entities; `restart` is the request path the Restart button sends to. */
export function bridgeEntities(ctx: DiscoveryContext): EntitySpec[] {
  const online = { availability: [{ topic: ctx.topics.bridgeState, value_template: '{{ value_json.state }}' }] };
  return [
    {
      // No availability: it must read "disconnected" while the bridge is offline, not "unavailable".
      platform: 'binary_sensor',
      key: 'connection',
      config: {
        name: 'Connection',
        state_topic: ctx.topics.bridgeState,
        value_template: '{{ value_json.state }}',
        payload_on: 'online',
        payload_off: 'offline',
        device_class: 'connectivity',
        entity_category: 'diagnostic',
      },
    },
    {
      platform: 'sensor',
      key: 'version',
      config: { name: 'Version', state_topic: ctx.topics.bridgeInfo, value_template: '{{ value_json.version }}', icon: 'mdi:information-outline', entity_category: 'diagnostic', ...online },
    },
    {
      platform: 'sensor',
      key: 'attached_drives',
      config: { name: 'Attached drives', state_topic: ctx.topics.bridgeInfo, value_template: '{{ value_json.attached_drives }}', state_class: 'measurement', icon: 'mdi:usb-flash-drive', ...online },
    },
    {
      platform: 'button',
      key: 'restart',
      config: { name: 'Restart', command_topic: ctx.topics.request('restart'), payload_press: '{}', device_class: 'restart', entity_category: 'config', ...online },
    },
  ];
}

export function bridgeDiscovery(ctx: DiscoveryContext): DiscoveryMessage[] {
  const device = bridgeDevice(ctx);
  return bridgeEntities(ctx).map((spec) => entityMessage(ctx, bridgeNodeId(ctx.bridgeId), device, spec));
}
