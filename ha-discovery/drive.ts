import { bridgeNodeId, driveNodeId } from './ids.ts';
import { entityMessage, type DiscoveryContext, type EntitySpec } from './messages.ts';
import type { DeviceInfo, DiscoveryMessage } from './schemas.ts';

const GIB = 1073741824;
const MIB = 1048576;
export const BACKUP_EVENT_TYPES = ['backup_started', 'backup_completed', 'backup_failed'] as const;
export const HOST_EVENT_TYPES = ['host_connected', 'host_disconnected', 'host_idle'] as const;

export function driveDevice(ctx: DiscoveryContext, driveId: string): DeviceInfo {
  return {
    identifiers: [driveNodeId(ctx.bridgeId, driveId)],
    name: `PiDrive ${driveId}`,
    manufacturer: 'PiDrive',
    model: 'Virtual USB drive',
    sw_version: ctx.version,
    via_device: bridgeNodeId(ctx.bridgeId),
    ...(ctx.webUrl ? { configuration_url: `${ctx.webUrl}#/drive/${driveId}` } : {}),
  };
}

const onOff = (field: string): string => `{{ 'ON' if value_json.${field} else 'OFF' }}`;

/**
 * An event entity receives every message of the drive's event topic; rendering the ones of other
 * types to '' makes HA skip them quietly instead of warning "Invalid event type".
 */
const onlyEvents = (types: readonly string[]): string =>
  `{{ value if value_json.event_type in [${types.map((t) => `'${t}'`).join(', ')}] else '' }}`;

/** Every entity of one drive (the contract's list), in a stable order. */
export function driveEntities(ctx: DiscoveryContext, driveId: string): EntitySpec[] {
  const state = ctx.topics.drive(driveId);
  const set = ctx.topics.driveSet(driveId);
  const event = ctx.topics.driveEvent(driveId);
  return [
    {
      platform: 'switch',
      key: 'attached',
      config: { name: 'Attached', state_topic: state, value_template: onOff('attached'), command_topic: set, payload_on: 'ON', payload_off: 'OFF', icon: 'mdi:usb-flash-drive' },
    },
    {
      platform: 'binary_sensor',
      key: 'host_connected',
      config: { name: 'Host connected', state_topic: state, value_template: onOff('host_connected'), payload_on: 'ON', payload_off: 'OFF', device_class: 'connectivity' },
    },
    {
      platform: 'binary_sensor',
      key: 'host_writing',
      config: { name: 'Host writing', state_topic: state, value_template: onOff('host_writing'), payload_on: 'ON', payload_off: 'OFF', device_class: 'running' },
    },
    {
      platform: 'sensor',
      key: 'size',
      config: {
        name: 'Size',
        state_topic: state,
        value_template: `{{ (value_json.size_bytes / ${GIB}) | round(2) }}`,
        device_class: 'data_size',
        unit_of_measurement: 'GiB',
        suggested_display_precision: 1,
        entity_category: 'diagnostic',
      },
    },
    {
      platform: 'sensor',
      key: 'allocated',
      config: {
        name: 'Allocated',
        state_topic: state,
        value_template: `{{ (value_json.allocated_bytes / ${GIB}) | round(2) }}`,
        device_class: 'data_size',
        unit_of_measurement: 'GiB',
        state_class: 'measurement',
        suggested_display_precision: 1,
      },
    },
    {
      platform: 'sensor',
      key: 'last_backup',
      config: { name: 'Last backup', state_topic: state, value_template: `{{ value_json.last_backup if value_json.last_backup else 'None' }}`, device_class: 'timestamp' },
    },
    {
      platform: 'sensor',
      key: 'last_backup_size',
      config: {
        name: 'Last backup size',
        state_topic: state,
        value_template: `{{ (value_json.last_backup_bytes / ${MIB}) | round(1) if value_json.last_backup_bytes is not none else 'None' }}`,
        device_class: 'data_size',
        unit_of_measurement: 'MiB',
        suggested_display_precision: 1,
      },
    },
    {
      platform: 'binary_sensor',
      key: 'suspicious_change',
      config: { name: 'Suspicious change', state_topic: state, value_template: onOff('suspicious_change'), payload_on: 'ON', payload_off: 'OFF', device_class: 'problem' },
    },
    {
      platform: 'button',
      key: 'backup',
      config: { name: 'Back up now', command_topic: set, payload_press: JSON.stringify({ action: 'backup' }), icon: 'mdi:backup-restore' },
    },
    {
      platform: 'button',
      key: 'eject',
      config: { name: 'Eject', command_topic: set, payload_press: JSON.stringify({ action: 'eject' }), icon: 'mdi:eject' },
    },
    {
      platform: 'select',
      key: 'mode',
      config: {
        name: 'Mode',
        state_topic: state,
        value_template: '{{ value_json.mode }}',
        command_topic: set,
        command_template: '{"mode": "{{ value }}"}',
        options: ['read_write', 'read_only', 'cdrom'],
        entity_category: 'config',
      },
    },
    {
      platform: 'event',
      key: 'backup_event',
      config: { name: 'Backup', state_topic: event, value_template: onlyEvents(BACKUP_EVENT_TYPES), event_types: [...BACKUP_EVENT_TYPES] },
    },
    {
      platform: 'event',
      key: 'host_event',
      config: { name: 'Host', state_topic: event, value_template: onlyEvents(HOST_EVENT_TYPES), event_types: [...HOST_EVENT_TYPES] },
    },
  ];
}

/**
 * The retained discovery configs of one drive. Available while the bridge is online and the
 * drive's image is reachable (its pool mounted): both must hold (`availability_mode: all`).
 */
export function driveDiscovery(ctx: DiscoveryContext, driveId: string): DiscoveryMessage[] {
  const device = driveDevice(ctx, driveId);
  const availability = {
    availability: [
      { topic: ctx.topics.bridgeState, value_template: '{{ value_json.state }}' },
      { topic: ctx.topics.drive(driveId), value_template: "{{ 'online' if value_json.available else 'offline' }}" },
    ],
    availability_mode: 'all' as const,
  };
  return driveEntities(ctx, driveId).map((spec) =>
    entityMessage(ctx, driveNodeId(ctx.bridgeId, driveId), device, { ...spec, config: { ...spec.config, ...availability } }),
  );
}
