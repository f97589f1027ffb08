import type { Topics } from '../bridge/mqtt/topics.ts';
import { configTopic, entitySlug, uniqueId } from './ids.ts';
import type { DeviceInfo, DiscoveryMessage, EntityConfig, OriginInfo, Platform } from './schemas.ts';

/** What the discovery functions need to know about the bridge; no I/O. */
export interface DiscoveryContext {
  bridgeId: string;
  /** Home Assistant's discovery prefix (`homeassistant`). */
  prefix: string;
  topics: Topics;
  version: string;
  /** Base URL of the web UI (`http://pi01.local:8080/`), or null when unknown. */
  webUrl: string | null;
}

/** One entity before it becomes a message: the key names its topic and its unique_id. */
export interface EntitySpec {
  platform: Platform;
  key: string;
  config: DistributiveOmit<EntityConfig, 'unique_id' | 'default_entity_id' | 'device' | 'origin' | 'qos'>;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export function origin(ctx: DiscoveryContext): OriginInfo {
  return { name: 'PiDrive', sw_version: ctx.version };
}

/** Full key names, the device block repeated in every entity (HA needs its name in each). */
export function entityMessage(ctx: DiscoveryContext, nodeId: string, device: DeviceInfo, spec: EntitySpec): DiscoveryMessage {
  const config = {
    ...spec.config,
    unique_id: uniqueId(nodeId, spec.key),
    default_entity_id: `${spec.platform}.${entitySlug(`${nodeId}_${spec.key}`)}`,
    device,
    origin: origin(ctx),
    qos: 1,
  };
  return { topic: configTopic(ctx.prefix, spec.platform, nodeId, spec.key), payload: JSON.stringify(config), retain: true, qos: 1 };
}

/**
 * Whether a retained discovery config belongs to this bridge: one of its topics lies under the
 * bridge's root (`<base>/<bridge_id>/`). zigbee2mqtt's rule, widened from the availability topic
 * to every topic so entities without availability (the Connection sensor) are recognised too.
 */
export function ownsConfig(topics: Topics, payload: string): boolean {
  if (payload === '') return false;
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch {
    return false;
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) return false;
  const config = json as Record<string, unknown>;
  const candidates: unknown[] = [config.state_topic, config.command_topic, config.availability_topic];
  if (Array.isArray(config.availability)) {
    for (const a of config.availability) candidates.push((a as { topic?: unknown } | null)?.topic);
  }
  const root = `${topics.root}/`;
  return candidates.some((t) => typeof t === 'string' && t.startsWith(root));
}
