import assert from 'node:assert/strict';
import { test } from 'node:test';
import { discoveryProblems, parseDiscoveryTopic } from '../../../ha-discovery/schemas.ts';

const base = {
  unique_id: 'pidrive_pi01_d1_x',
  device: { identifiers: ['pidrive_pi01_d1'], name: 'PiDrive d1' },
  origin: { name: 'PiDrive', sw_version: '0.1.0' },
  qos: 1,
};

function problems(platform: string, config: Record<string, unknown>, extra: Partial<{ topic: string; retain: boolean; qos: number }> = {}) {
  return discoveryProblems('homeassistant', {
    topic: extra.topic ?? `homeassistant/${platform}/pidrive_pi01_d1/x/config`,
    payload: JSON.stringify(config),
    retain: extra.retain ?? true,
    qos: extra.qos ?? 1,
  });
}

const sensor = { ...base, name: 'Size', default_entity_id: 'sensor.pidrive_pi01_d1_x', state_topic: 'pidrive/pi01/drive/d1' };

test('a valid data_size sensor passes', () => {
  assert.deepEqual(problems('sensor', { ...sensor, device_class: 'data_size', unit_of_measurement: 'GiB', state_class: 'measurement' }), {});
});

test('HA sensor rules: units per device class, timestamp without unit or state class, options only for enum', () => {
  assert.match(problems('sensor', { ...sensor, device_class: 'data_size', unit_of_measurement: 'Gb' }).unit_of_measurement ?? '', /not valid together with device class `data_size`/);
  assert.ok(problems('sensor', { ...sensor, device_class: 'timestamp', state_class: 'measurement' }).state_class);
  assert.ok(problems('sensor', { ...sensor, device_class: 'timestamp', unit_of_measurement: 's' }).unit_of_measurement);
  assert.ok(problems('sensor', { ...sensor, options: ['a', 'b'] }).options);
  assert.ok(problems('sensor', { ...sensor, device_class: 'enum', options: [] }).options);
  assert.ok(problems('sensor', { ...sensor, last_reset_value_template: '{{ 1 }}', state_class: 'measurement' }).last_reset_value_template);
  assert.ok(problems('sensor', { ...sensor, entity_category: 'config' }).entity_category);
  assert.ok(problems('sensor', { ...sensor, state_class: 'sometimes' }).state_class);
});

test('common rules: device extras rejected, identifiers required, availability exclusive, icon form', () => {
  assert.ok(problems('sensor', { ...sensor, device: { ...base.device, support_url: 'http://x' } })['device.support_url']);
  assert.ok(problems('sensor', { ...sensor, device: { name: 'PiDrive d1' } }).device);
  assert.ok(problems('sensor', { ...sensor, availability_topic: 'a', availability: [{ topic: 'b' }] }).availability);
  assert.ok(problems('sensor', { ...sensor, availability: [{ topic: 'b', payload: 'x' }] })['availability.0.payload']);
  assert.ok(problems('sensor', { ...sensor, icon: 'usb' }).icon);
  assert.ok(problems('sensor', { ...sensor, unknown_key: 1 }).unknown_key);
  assert.ok(problems('sensor', { ...sensor, device: { ...base.device, configuration_url: 'ftp://x' } })['device.configuration_url']);
});

test('PiDrive policy: default_entity_id in the domain, no object_id, name does not repeat the device', () => {
  assert.ok(problems('sensor', { ...sensor, object_id: 'x' }).object_id);
  assert.ok(problems('sensor', { ...sensor, default_entity_id: 'switch.pidrive_x' }).default_entity_id);
  assert.ok(problems('sensor', { ...sensor, default_entity_id: 'sensor.Bad-Id' }).default_entity_id);
  const { default_entity_id: _d, ...noDefault } = sensor;
  assert.ok(problems('sensor', noDefault).default_entity_id);
  assert.ok(problems('sensor', { ...sensor, name: 'PiDrive d1 size' }).name);
  assert.ok(problems('sensor', { ...sensor, qos: 0 }).qos);
  const { origin: _o, ...noOrigin } = sensor;
  assert.ok(problems('sensor', noOrigin).origin);
});

test('platform requirements: command topics without wildcards, select options, event types, no category on events', () => {
  const sw = { ...base, name: 'Attached', default_entity_id: 'switch.pidrive_pi01_d1_x' };
  assert.ok(problems('switch', sw).command_topic);
  assert.ok(problems('switch', { ...sw, command_topic: 'pidrive/+/set' }).command_topic);
  assert.deepEqual(problems('switch', { ...sw, command_topic: 'pidrive/pi01/drive/d1/set' }), {});
  const sel = { ...base, name: 'Mode', default_entity_id: 'select.pidrive_pi01_d1_x', command_topic: 'c' };
  assert.ok(problems('select', sel).options);
  const ev = { ...base, name: 'Backup', default_entity_id: 'event.pidrive_pi01_d1_x', state_topic: 's' };
  assert.ok(problems('event', ev).event_types);
  assert.ok(problems('event', { ...ev, event_types: ['a'], entity_category: 'diagnostic' }).entity_category);
  assert.deepEqual(problems('event', { ...ev, event_types: ['a'] }), {});
  const btn = { ...base, name: 'Restart', default_entity_id: 'button.pidrive_pi01_d1_x', command_topic: 'c' };
  assert.ok(problems('button', { ...btn, device_class: 'reboot' }).device_class);
});

test('envelope and topic: retained qos 1, supported platform, allowed characters; empty payload is a removal', () => {
  assert.ok(problems('sensor', sensor, { retain: false }).retain);
  assert.ok(problems('sensor', sensor, { qos: 0 }).qos);
  assert.ok(problems('sensor', sensor, { topic: 'homeassistant/sensor/pidrive.pi01/x/config' }).topic);
  assert.ok(problems('sensor', sensor, { topic: 'homeassistant/light/pidrive_pi01_d1/x/config' }).topic);
  assert.deepEqual(discoveryProblems('homeassistant', { topic: 'homeassistant/sensor/n/x/config', payload: '', retain: true, qos: 1 }), {});
  assert.deepEqual(discoveryProblems('homeassistant', { topic: 'homeassistant/sensor/n/x/config', payload: '{', retain: true, qos: 1 }), { payload: 'not JSON' });
  assert.deepEqual(parseDiscoveryTopic('homeassistant', 'homeassistant/switch/node/obj/config'), {
    prefix: 'homeassistant',
    platform: 'switch',
    nodeId: 'node',
    objectId: 'obj',
  });
});
