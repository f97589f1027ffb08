/**
 * The contract's MQTT topic layout for one bridge: `<base>/<bridge_id>/...`. Every topic PiDrive
 * publishes or listens on is built here, so the extension, the discovery payloads and the tests
 * cannot disagree about a path.
 */
export interface Topics {
  /** `<base>/<bridge_id>`: the prefix every topic of this bridge starts with. */
  readonly root: string;
  readonly bridgeState: string;
  readonly bridgeInfo: string;
  readonly requestPrefix: string;
  readonly requestFilter: string;
  readonly responsePrefix: string;
  readonly setFilter: string;
  drive(id: string): string;
  driveSet(id: string): string;
  driveEvent(id: string): string;
  request(path: string): string;
  response(path: string): string;
  /** The drive id of a `<root>/drive/<id>/set` topic, or null. */
  setTarget(topic: string): string | null;
  /** The path of a `<root>/bridge/request/<path>` topic, or null. */
  requestPath(topic: string): string | null;
}

export function topicsFor(baseTopic: string, bridgeId: string): Topics {
  const root = `${baseTopic}/${bridgeId}`;
  const requestPrefix = `${root}/bridge/request/`;
  const responsePrefix = `${root}/bridge/response/`;
  const drivePrefix = `${root}/drive/`;
  return {
    root,
    bridgeState: `${root}/bridge/state`,
    bridgeInfo: `${root}/bridge/info`,
    requestPrefix,
    requestFilter: `${requestPrefix}#`,
    responsePrefix,
    setFilter: `${drivePrefix}+/set`,
    drive: (id) => `${drivePrefix}${id}`,
    driveSet: (id) => `${drivePrefix}${id}/set`,
    driveEvent: (id) => `${drivePrefix}${id}/event`,
    request: (path) => `${requestPrefix}${path}`,
    response: (path) => `${responsePrefix}${path}`,
    setTarget(topic) {
      if (!topic.startsWith(drivePrefix) || !topic.endsWith('/set')) return null;
      const id = topic.slice(drivePrefix.length, -'/set'.length);
      return id.length > 0 && !id.includes('/') ? id : null;
    },
    requestPath(topic) {
      if (!topic.startsWith(requestPrefix)) return null;
      const path = topic.slice(requestPrefix.length);
      return path.length > 0 ? path : null;
    },
  };
}

/** MQTT topic-filter matching (`+` one level, `#` the rest), as a broker does it. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return i < t.length || f.length - 1 === t.length;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
