/**
 * Names Home Assistant keys on. Every id carries the bridge id, so two bridges on one broker never
 * share a topic, a device or an entity. Drive ids contain no underscore, so `pidrive_<bridge>_<drive>`
 * is unambiguous; the bridge device is `pidrive_<bridge>_bridge` (the drive id "bridge" is reserved
 * for that reason).
 */
export const RESERVED_DRIVE_IDS: readonly string[] = ['bridge'];

export function bridgeNodeId(bridgeId: string): string {
  return `pidrive_${bridgeId}_bridge`;
}

export function driveNodeId(bridgeId: string, driveId: string): string {
  return `pidrive_${bridgeId}_${driveId}`;
}

/** `pidrive_<bridge_id>_<drive_id>_<key>` (the contract's unique_id). */
export function uniqueId(nodeId: string, key: string): string {
  return `${nodeId}_${key}`;
}

/** An entity-id object part: HA allows [a-z0-9_] without leading, trailing or doubled underscores. */
export function entitySlug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_|_$/g, '');
}

export function configTopic(prefix: string, platform: string, nodeId: string, key: string): string {
  return `${prefix}/${platform}/${nodeId}/${key}/config`;
}
