import { z } from 'zod';

/**
 * Home Assistant's MQTT discovery rules as zod schemas, one per platform PiDrive publishes,
 * mirrored from home-assistant/core `components/mqtt/` (`schemas.py`, `config.py`, the platform
 * files, `sensor/const.py`): a payload these schemas accept is one HA accepts and turns into a
 * working entity. Two deliberate differences, both stricter than HA: unknown top-level keys are
 * errors (HA silently drops them, which would hide a typo), and the `pidrive` policy rules below.
 */

export const PLATFORMS = ['binary_sensor', 'button', 'event', 'select', 'sensor', 'switch'] as const;
export type Platform = (typeof PLATFORMS)[number];

/** `discovery.py` TOPIC_MATCHER, after the prefix: component, optional node_id, object_id. */
export const DISCOVERY_TOPIC = /^(?<component>\w+)\/(?:(?<node_id>[a-zA-Z0-9_-]+)\/)?(?<object_id>[a-zA-Z0-9_-]+)\/config$/;

/** `valid_entity_id` in homeassistant/core.py. */
const ENTITY_ID = /^(?!.+__)(?!_)[\da-z_]+(?<!_)\.(?!_)[\da-z_]+(?<!_)$/;

function topicProblem(topic: string, publish: boolean): string | null {
  if (topic.length === 0) return 'must not be empty';
  if (topic.includes('\0')) return 'must not contain NUL';
  if (Buffer.byteLength(topic) > 65535) return 'is longer than 65535 bytes';
  const levels = topic.split('/');
  for (const [i, level] of levels.entries()) {
    if (publish && (level.includes('+') || level.includes('#'))) return 'must not contain wildcards';
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return "'#' must be the whole last level";
    if (level.includes('+') && level !== '+') return "'+' must be a whole level";
  }
  return null;
}

const SubscribeTopic = z.string().superRefine((t, ctx) => {
  const problem = topicProblem(t, false);
  if (problem) ctx.addIssue({ code: 'custom', message: `not a valid subscribe topic: ${problem}` });
});
const PublishTopic = z.string().superRefine((t, ctx) => {
  const problem = topicProblem(t, true);
  if (problem) ctx.addIssue({ code: 'custom', message: `not a valid publish topic: ${problem}` });
});
const Template = z.string().min(1);
/** `cv.configuration_url`: an http(s) URL or a homeassistant:// path. */
const ConfigurationUrl = z.string().refine((u) => {
  if (u.startsWith('homeassistant://')) return true;
  try {
    const url = new URL(u);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname.length > 0;
  } catch {
    return false;
  }
}, 'must be an http(s) URL or homeassistant:// path');
/** `cv.icon`: "prefix:name". */
const Icon = z.string().regex(/^[^:]+:[^:]+$/, 'icons are written "prefix:name"');
const Qos = z.union([z.literal(0), z.literal(1), z.literal(2)]);

/** `MQTT_ENTITY_DEVICE_INFO_SCHEMA`: extra keys are rejected by HA. */
export const DeviceSchema = z
  .object({
    identifiers: z.union([z.string(), z.array(z.string())]).optional(),
    connections: z.array(z.tuple([z.string(), z.string()])).optional(),
    manufacturer: z.string().optional(),
    model: z.string().optional(),
    model_id: z.string().optional(),
    name: z.string().optional(),
    hw_version: z.string().optional(),
    serial_number: z.string().optional(),
    sw_version: z.string().optional(),
    via_device: z.string().optional(),
    suggested_area: z.string().optional(),
    configuration_url: ConfigurationUrl.optional(),
  })
  .strict()
  .refine(
    (d) => (Array.isArray(d.identifiers) ? d.identifiers.length > 0 : Boolean(d.identifiers)) || (d.connections?.length ?? 0) > 0,
    "Device must have at least one identifying value in 'identifiers' and/or 'connections'",
  );
export type DeviceInfo = z.infer<typeof DeviceSchema>;

/** `MQTT_ORIGIN_INFO_SCHEMA`. */
export const OriginSchema = z
  .object({ name: z.string(), sw_version: z.string().optional(), support_url: ConfigurationUrl.optional() })
  .strict();
export type OriginInfo = z.infer<typeof OriginSchema>;

export const AvailabilitySchema = z
  .object({
    topic: SubscribeTopic,
    payload_available: z.string().optional(),
    payload_not_available: z.string().optional(),
    value_template: Template.optional(),
  })
  .strict();

/** `MQTT_ENTITY_COMMON_SCHEMA` + `MQTT_AVAILABILITY_SCHEMA` + `SCHEMA_BASE`. */
const common = {
  availability: z.array(AvailabilitySchema).min(1).optional(),
  availability_topic: SubscribeTopic.optional(),
  availability_template: Template.optional(),
  availability_mode: z.enum(['all', 'any', 'latest']).optional(),
  payload_available: z.string().optional(),
  payload_not_available: z.string().optional(),
  device: DeviceSchema.optional(),
  origin: OriginSchema.optional(),
  enabled_by_default: z.boolean().optional(),
  entity_category: z.enum(['config', 'diagnostic']).optional(),
  icon: Icon.optional(),
  json_attributes_topic: SubscribeTopic.optional(),
  json_attributes_template: Template.optional(),
  object_id: z.string().optional(),
  unique_id: z.string().optional(),
  default_entity_id: z.string().regex(ENTITY_ID, 'must be an entity id like "sensor.name"').optional(),
  name: z.string().nullable().optional(),
  qos: Qos.optional(),
  encoding: z.string().optional(),
};

const readOnly = { state_topic: SubscribeTopic, value_template: Template.optional() };
const readWrite = {
  command_topic: PublishTopic,
  optimistic: z.boolean().optional(),
  retain: z.boolean().optional(),
  state_topic: SubscribeTopic.optional(),
};

/** `homeassistant/const.py` UnitOfInformation. */
export const INFORMATION_UNITS = ['bit', 'kbit', 'Mbit', 'Gbit', 'B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'] as const;
const DATA_RATE_UNITS = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'B/s', 'kB/s', 'MB/s', 'GB/s', 'KiB/s', 'MiB/s', 'GiB/s'] as const;
const DURATION_UNITS = ['d', 'h', 'min', 's', 'ms', 'µs'] as const;
const STATE_CLASSES = ['measurement', 'measurement_angle', 'total', 'total_increasing'] as const;

/**
 * `sensor/const.py` DEVICE_CLASS_UNITS and DEVICE_CLASS_STATE_CLASSES for the sensor device classes
 * this schema models (the ones PiDrive can use); null units = the class is non-numeric and takes
 * neither a unit nor a state class. Other device classes are refused as not modelled.
 */
const SENSOR_CLASSES: Record<string, { units: readonly string[] | null; stateClasses: readonly string[] }> = {
  data_size: { units: INFORMATION_UNITS, stateClasses: STATE_CLASSES },
  data_rate: { units: DATA_RATE_UNITS, stateClasses: ['measurement'] },
  duration: { units: DURATION_UNITS, stateClasses: ['measurement', 'total', 'total_increasing'] },
  timestamp: { units: null, stateClasses: [] },
  date: { units: null, stateClasses: [] },
  enum: { units: null, stateClasses: [] },
};

const BINARY_SENSOR_CLASSES = [
  'battery', 'battery_charging', 'carbon_monoxide', 'cold', 'connectivity', 'door', 'garage_door', 'gas', 'heat', 'light',
  'lock', 'moisture', 'motion', 'moving', 'occupancy', 'opening', 'plug', 'power', 'presence', 'problem', 'running',
  'safety', 'smoke', 'sound', 'tamper', 'update', 'vibration', 'window',
] as const;

type Ctx = z.core.$RefinementCtx;
const fail = (ctx: Ctx, path: string, message: string): void => ctx.addIssue({ code: 'custom', path: [path], message });

/** Availability is either one topic or a list, never both (`vol.Exclusive`). */
function checkAvailability(c: { availability?: unknown; availability_topic?: unknown }, ctx: Ctx): void {
  if (c.availability !== undefined && c.availability_topic !== undefined) {
    fail(ctx, 'availability', 'availability and availability_topic are mutually exclusive');
  }
}

/** HA refuses sensors and binary sensors in the config category (they cannot be configured). */
function checkNotConfig(c: { entity_category?: string }, ctx: Ctx): void {
  if (c.entity_category === 'config') fail(ctx, 'entity_category', 'sensors cannot have entity_category "config"');
}

export const SwitchSchema = z
  .object({
    ...common,
    ...readWrite,
    value_template: Template.optional(),
    command_template: Template.optional(),
    payload_on: z.string().optional(),
    payload_off: z.string().optional(),
    state_on: z.string().optional(),
    state_off: z.string().optional(),
    device_class: z.enum(['outlet', 'switch']).optional(),
  })
  .strict()
  .superRefine(checkAvailability);

export const BinarySensorSchema = z
  .object({
    ...common,
    ...readOnly,
    payload_on: z.string().optional(),
    payload_off: z.string().optional(),
    device_class: z.enum(BINARY_SENSOR_CLASSES).optional(),
    off_delay: z.number().int().positive().optional(),
    expire_after: z.number().int().positive().optional(),
    force_update: z.boolean().optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    checkAvailability(c, ctx);
    checkNotConfig(c, ctx);
  });

export const SensorSchema = z
  .object({
    ...common,
    ...readOnly,
    device_class: z.string().nullable().optional(),
    state_class: z.enum(STATE_CLASSES).nullable().optional(),
    unit_of_measurement: z.string().nullable().optional(),
    suggested_display_precision: z.number().int().nonnegative().optional(),
    expire_after: z.number().int().positive().optional(),
    force_update: z.boolean().optional(),
    last_reset_value_template: Template.optional(),
    options: z.array(z.string()).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    checkAvailability(c, ctx);
    checkNotConfig(c, ctx);
    // validate_sensor_state_and_device_class_config
    if (c.last_reset_value_template !== undefined && c.state_class !== 'total') {
      fail(ctx, 'last_reset_value_template', `cannot be used together with state class \`${c.state_class}\``);
    }
    if (c.options !== undefined) {
      if (c.options.length === 0) fail(ctx, 'options', 'An empty options list is not allowed');
      if (c.state_class || c.unit_of_measurement) fail(ctx, 'options', 'not allowed together with state_class or unit_of_measurement');
      if (c.device_class !== 'enum') fail(ctx, 'options', 'must be used together with device class `enum`');
    }
    if (c.device_class === undefined || c.device_class === null) return;
    const rules = SENSOR_CLASSES[c.device_class];
    if (!rules) {
      fail(ctx, 'device_class', `device class "${c.device_class}" is not modelled by this schema`);
      return;
    }
    const unit = c.unit_of_measurement ?? null;
    if (rules.units === null && unit !== null) {
      fail(ctx, 'unit_of_measurement', `a unit makes the value numeric, which device class ${c.device_class} is not`);
    }
    if (rules.units !== null && unit !== null && !rules.units.includes(unit)) {
      fail(ctx, 'unit_of_measurement', `The unit of measurement \`${unit}\` is not valid together with device class \`${c.device_class}\``);
    }
    if (c.state_class && !rules.stateClasses.includes(c.state_class)) {
      fail(ctx, 'state_class', `state class ${c.state_class} is not valid together with device class ${c.device_class}`);
    }
  });

export const ButtonSchema = z
  .object({
    ...common,
    command_topic: PublishTopic,
    command_template: Template.optional(),
    payload_press: z.string().optional(),
    retain: z.boolean().optional(),
    device_class: z.enum(['identify', 'restart', 'update']).optional(),
  })
  .strict()
  .superRefine(checkAvailability);

export const SelectSchema = z
  .object({
    ...common,
    ...readWrite,
    value_template: Template.optional(),
    command_template: Template.optional(),
    options: z.array(z.string()).min(1),
  })
  .strict()
  .superRefine(checkAvailability);

export const EventSchema = z
  .object({
    ...common,
    ...readOnly,
    event_types: z.array(z.string()).min(1),
    device_class: z.enum(['button', 'doorbell', 'motion']).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    checkAvailability(c, ctx);
    if (c.entity_category !== undefined) fail(ctx, 'entity_category', 'event entities cannot have an entity_category');
  });

export const PLATFORM_SCHEMAS = {
  binary_sensor: BinarySensorSchema,
  button: ButtonSchema,
  event: EventSchema,
  select: SelectSchema,
  sensor: SensorSchema,
  switch: SwitchSchema,
} as const satisfies Record<Platform, z.ZodType>;

export type SwitchConfig = z.infer<typeof SwitchSchema>;
export type BinarySensorConfig = z.infer<typeof BinarySensorSchema>;
export type SensorConfig = z.infer<typeof SensorSchema>;
export type ButtonConfig = z.infer<typeof ButtonSchema>;
export type SelectConfig = z.infer<typeof SelectSchema>;
export type EventConfig = z.infer<typeof EventSchema>;
export type EntityConfig = SwitchConfig | BinarySensorConfig | SensorConfig | ButtonConfig | SelectConfig | EventConfig;

/**
 * PiDrive's own rules on top of HA's (from the reference's pain points): stable ids, a
 * `default_entity_id` in the entity's own domain and never the deprecated `object_id`, an origin,
 * a named device, and an entity name that does not repeat the device name.
 */
export function pidrivePolicyProblems(platform: Platform, config: EntityConfig): Record<string, string> {
  const problems: Record<string, string> = {};
  if (!config.unique_id) problems.unique_id = 'required';
  if (config.object_id !== undefined) problems.object_id = 'deprecated since HA 2025.10; send default_entity_id';
  if (!config.default_entity_id) problems.default_entity_id = 'required';
  else if (!config.default_entity_id.startsWith(`${platform}.`)) problems.default_entity_id = `must be in the ${platform} domain`;
  if (!config.origin) problems.origin = 'required';
  if (!config.device?.name) problems['device.name'] = 'required (HA needs it in every entity)';
  if (typeof config.name !== 'string' || config.name.length === 0) problems.name = 'required';
  else if (config.device?.name && config.name.toLowerCase().startsWith(config.device.name.toLowerCase())) {
    problems.name = 'must not repeat the device name';
  }
  if (config.qos !== 1) problems.qos = 'PiDrive entities use qos 1';
  return problems;
}

/** One retained discovery message as published. `payload` '' clears the entity. */
export const DiscoveryMessageSchema = z.object({
  topic: z.string(),
  payload: z.string(),
  retain: z.literal(true),
  qos: z.literal(1),
});
export type DiscoveryMessage = z.infer<typeof DiscoveryMessageSchema>;

export interface ParsedDiscoveryTopic {
  prefix: string;
  platform: Platform;
  nodeId: string | null;
  objectId: string;
}

export function parseDiscoveryTopic(prefix: string, topic: string): ParsedDiscoveryTopic | null {
  if (!topic.startsWith(`${prefix}/`)) return null;
  const match = DISCOVERY_TOPIC.exec(topic.slice(prefix.length + 1));
  if (!match?.groups) return null;
  const platform = match.groups.component as Platform;
  if (!PLATFORMS.includes(platform)) return null;
  return { prefix, platform, nodeId: match.groups.node_id ?? null, objectId: match.groups.object_id! };
}

/**
 * Checks one published discovery message the way HA would receive it: topic shape, platform,
 * JSON, the platform schema, then PiDrive's policy. Returns every problem by path; empty = valid.
 * An empty payload (a removal) is valid on any well-formed topic.
 */
export function discoveryProblems(prefix: string, message: { topic: string; payload: string; retain: boolean; qos: number }): Record<string, string> {
  const envelope = DiscoveryMessageSchema.safeParse(message);
  if (!envelope.success) return Object.fromEntries(envelope.error.issues.map((i) => [i.path.join('.'), i.message]));
  const topic = parseDiscoveryTopic(prefix, message.topic);
  if (!topic) return { topic: `not a discovery topic of a supported platform under ${prefix}/` };
  if (message.payload === '') return {};
  let json: unknown;
  try {
    json = JSON.parse(message.payload);
  } catch {
    return { payload: 'not JSON' };
  }
  const parsed = PLATFORM_SCHEMAS[topic.platform].safeParse(json);
  if (!parsed.success) {
    const out: Record<string, string> = {};
    for (const issue of parsed.error.issues) {
      const keys = issue.code === 'unrecognized_keys' ? issue.keys : [''];
      for (const key of keys) out[[...issue.path.map(String), key].filter(Boolean).join('.') || '(root)'] ??= issue.message;
    }
    return out;
  }
  return pidrivePolicyProblems(topic.platform, parsed.data);
}
