import { VERSION } from '../../../bridge/version.ts';
import { topicsFor } from '../../../bridge/mqtt/topics.ts';
import { bridgeDiscovery } from '../../../ha-discovery/bridge.ts';
import { driveDiscovery } from '../../../ha-discovery/drive.ts';
import type { DiscoveryContext } from '../../../ha-discovery/messages.ts';

/** The discovery context a test bridge (http port 0: no web URL) publishes with. */
export function discoveryContext(bridgeId: string): DiscoveryContext {
  return { bridgeId, prefix: 'homeassistant', topics: topicsFor('pidrive', bridgeId), version: VERSION, webUrl: null };
}

/** Every retained message a bridge with these drives must leave on the broker, discovery included. */
export function expectedDiscovery(bridgeId: string, drives: string[]): Map<string, string> {
  const ctx = discoveryContext(bridgeId);
  return new Map([...bridgeDiscovery(ctx), ...drives.flatMap((d) => driveDiscovery(ctx, d))].map((m) => [m.topic, m.payload]));
}

export function expectedRetainedTopics(bridgeId: string, drives: string[]): string[] {
  const topics = topicsFor('pidrive', bridgeId);
  return [topics.bridgeState, topics.bridgeInfo, ...drives.map((d) => topics.drive(d)), ...expectedDiscovery(bridgeId, drives).keys()].sort();
}
