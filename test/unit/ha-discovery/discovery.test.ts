import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bridgeDiscovery } from '../../../ha-discovery/bridge.ts';
import { driveDiscovery } from '../../../ha-discovery/drive.ts';
import { ownsConfig, type DiscoveryContext } from '../../../ha-discovery/messages.ts';
import { discoveryProblems } from '../../../ha-discovery/schemas.ts';
import { topicsFor } from '../../../bridge/mqtt/topics.ts';

function ctx(bridgeId = 'pi01', webUrl: string | null = 'http://pi01.local:8080/'): DiscoveryContext {
  return { bridgeId, prefix: 'homeassistant', topics: topicsFor('pidrive', bridgeId), version: '0.1.0', webUrl };
}

const parse = (payload: string): Record<string, unknown> => JSON.parse(payload) as Record<string, unknown>;

test('every drive entity of the contract, on the expected topics', () => {
  const topics = driveDiscovery(ctx(), 'drive1').map((m) => m.topic);
  assert.deepEqual(topics, [
    'homeassistant/switch/pidrive_pi01_drive1/attached/config',
    'homeassistant/binary_sensor/pidrive_pi01_drive1/host_connected/config',
    'homeassistant/binary_sensor/pidrive_pi01_drive1/host_writing/config',
    'homeassistant/sensor/pidrive_pi01_drive1/size/config',
    'homeassistant/sensor/pidrive_pi01_drive1/allocated/config',
    'homeassistant/sensor/pidrive_pi01_drive1/last_backup/config',
    'homeassistant/sensor/pidrive_pi01_drive1/last_backup_size/config',
    'homeassistant/binary_sensor/pidrive_pi01_drive1/suspicious_change/config',
    'homeassistant/button/pidrive_pi01_drive1/backup/config',
    'homeassistant/button/pidrive_pi01_drive1/eject/config',
    'homeassistant/select/pidrive_pi01_drive1/mode/config',
    'homeassistant/event/pidrive_pi01_drive1/backup_event/config',
    'homeassistant/event/pidrive_pi01_drive1/host_event/config',
  ]);
});

test('every drive and bridge message passes the Home Assistant platform schemas and the PiDrive policy', () => {
  for (const c of [ctx(), ctx('pi-02_x', null)]) {
    for (const message of [...bridgeDiscovery(c), ...driveDiscovery(c, 'drive1'), ...driveDiscovery(c, 'a-b-9')]) {
      assert.deepEqual(discoveryProblems('homeassistant', message), {}, message.topic);
    }
  }
});

test('the Attached switch has exactly the documented shape', () => {
  const attached = driveDiscovery(ctx(), 'drive1')[0]!;
  assert.equal(attached.retain, true);
  assert.equal(attached.qos, 1);
  assert.deepEqual(parse(attached.payload), {
    name: 'Attached',
    state_topic: 'pidrive/pi01/drive/drive1',
    value_template: "{{ 'ON' if value_json.attached else 'OFF' }}",
    command_topic: 'pidrive/pi01/drive/drive1/set',
    payload_on: 'ON',
    payload_off: 'OFF',
    icon: 'mdi:usb-flash-drive',
    availability: [
      { topic: 'pidrive/pi01/bridge/state', value_template: '{{ value_json.state }}' },
      { topic: 'pidrive/pi01/drive/drive1', value_template: "{{ 'online' if value_json.available else 'offline' }}" },
    ],
    availability_mode: 'all',
    unique_id: 'pidrive_pi01_drive1_attached',
    default_entity_id: 'switch.pidrive_pi01_drive1_attached',
    device: {
      identifiers: ['pidrive_pi01_drive1'],
      name: 'PiDrive drive1',
      manufacturer: 'PiDrive',
      model: 'Virtual USB drive',
      sw_version: '0.1.0',
      via_device: 'pidrive_pi01_bridge',
      configuration_url: 'http://pi01.local:8080/#/drive/drive1',
    },
    origin: { name: 'PiDrive', sw_version: '0.1.0' },
    qos: 1,
  });
});

test('bridge entities: Connection without availability, Restart on the request topic', () => {
  const messages = bridgeDiscovery(ctx());
  assert.deepEqual(
    messages.map((m) => m.topic),
    [
      'homeassistant/binary_sensor/pidrive_pi01_bridge/connection/config',
      'homeassistant/sensor/pidrive_pi01_bridge/version/config',
      'homeassistant/sensor/pidrive_pi01_bridge/attached_drives/config',
      'homeassistant/button/pidrive_pi01_bridge/restart/config',
    ],
  );
  const connection = parse(messages[0]!.payload);
  assert.equal(connection.availability, undefined);
  assert.equal(connection.state_topic, 'pidrive/pi01/bridge/state');
  const restart = parse(messages[3]!.payload);
  assert.equal(restart.command_topic, 'pidrive/pi01/bridge/request/restart');
  assert.equal(restart.entity_category, 'config');
  assert.equal((restart.device as Record<string, unknown>).via_device, undefined);
});

test('dashes in ids still give valid entity ids; unique ids keep the raw ids', () => {
  const [attached] = driveDiscovery(ctx('pi-02'), 'usb-stick');
  const config = parse(attached!.payload);
  assert.equal(config.unique_id, 'pidrive_pi-02_usb-stick_attached');
  assert.equal(config.default_entity_id, 'switch.pidrive_pi_02_usb_stick_attached');
});

test('two bridges share no topic, unique id or device identifier', () => {
  const seen = new Map<string, string>();
  for (const bridge of ['pi01', 'pi02']) {
    for (const m of [...bridgeDiscovery(ctx(bridge)), ...driveDiscovery(ctx(bridge), 'drive1')]) {
      const config = parse(m.payload);
      for (const key of [m.topic, config.unique_id as string, ...((config.device as { identifiers: string[] }).identifiers)]) {
        const owner = seen.get(key);
        assert.ok(owner === undefined || owner === bridge, `${key} used by ${owner} and ${bridge}`);
        seen.set(key, bridge);
      }
    }
  }
});

test('ownsConfig recognises this bridge by its topics and nothing else', () => {
  const own = driveDiscovery(ctx('pi'), 'd1')[0]!.payload;
  const connection = bridgeDiscovery(ctx('pi'))[0]!.payload;
  const other = driveDiscovery(ctx('pi_2'), 'd1')[0]!.payload;
  const topics = topicsFor('pidrive', 'pi');
  assert.equal(ownsConfig(topics, own), true);
  assert.equal(ownsConfig(topics, connection), true);
  assert.equal(ownsConfig(topics, other), false);
  assert.equal(ownsConfig(topics, ''), false);
  assert.equal(ownsConfig(topics, 'not json'), false);
  assert.equal(ownsConfig(topics, '[1]'), false);
  assert.equal(ownsConfig(topics, JSON.stringify({ state_topic: 'zigbee2mqtt/lamp' })), false);
});

/**
 * The fields Home Assistant judges, written out literally for every entity (the integration tests
 * build their expectations with this code, so a unit slip would pass there unnoticed).
 */
test('every entity has exactly the pinned device class, unit, state class, category and template', () => {
  const pinned = (message: { topic: string; payload: string }) => {
    const p = parse(message.payload);
    return [message.topic.split('/')[3], p.device_class, p.unit_of_measurement, p.state_class, p.entity_category, p.value_template].map((v) => v ?? '-').join(' | ');
  };
  assert.deepEqual([...driveDiscovery(ctx(), 'drive1'), ...bridgeDiscovery(ctx())].map(pinned), [
    "attached | - | - | - | - | {{ 'ON' if value_json.attached else 'OFF' }}",
    "host_connected | connectivity | - | - | - | {{ 'ON' if value_json.host_connected else 'OFF' }}",
    "host_writing | running | - | - | - | {{ 'ON' if value_json.host_writing else 'OFF' }}",
    'size | data_size | GiB | - | diagnostic | {{ (value_json.size_bytes / 1073741824) | round(2) }}',
    'allocated | data_size | GiB | measurement | - | {{ (value_json.allocated_bytes / 1073741824) | round(2) }}',
    "last_backup | timestamp | - | - | - | {{ value_json.last_backup if value_json.last_backup else 'None' }}",
    "last_backup_size | data_size | MiB | - | - | {{ (value_json.last_backup_bytes / 1048576) | round(1) if value_json.last_backup_bytes is not none else 'None' }}",
    "suspicious_change | problem | - | - | - | {{ 'ON' if value_json.suspicious_change else 'OFF' }}",
    'backup | - | - | - | - | -',
    'eject | - | - | - | - | -',
    'mode | - | - | - | config | {{ value_json.mode }}',
    "backup_event | - | - | - | - | {{ value if value_json.event_type in ['backup_started', 'backup_completed', 'backup_failed'] else '' }}",
    "host_event | - | - | - | - | {{ value if value_json.event_type in ['host_connected', 'host_disconnected', 'host_idle'] else '' }}",
    'connection | connectivity | - | - | diagnostic | {{ value_json.state }}',
    'version | - | - | - | diagnostic | {{ value_json.version }}',
    'attached_drives | - | - | measurement | - | {{ value_json.attached_drives }}',
    'restart | restart | - | - | config | -',
  ]);
});
