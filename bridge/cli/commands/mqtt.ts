import os from 'node:os';
import { PiDriveError } from '../../core/errors.ts';
import { brokerCredentials } from '../../mqtt/credentials.ts';
import { safeUrl } from '../../mqtt/safe-url.ts';
import type { CommandSpec } from '../command.ts';
import { resolveGlobals } from '../offline.ts';

interface Credentials {
  url: string;
  host: string;
  port: number;
  username: string;
  password: string;
  source: 'config' | 'file' | 'generated';
}

export const commands: CommandSpec[] = [
  {
    name: 'mqtt credentials',
    summary: 'show the embedded MQTT broker address, user and password (for Home Assistant)',
    args: [],
    options: {},
    async run({ globals }): Promise<Credentials> {
      const { config, dataDir } = resolveGlobals(globals);
      if (config.mqtt.url) {
        throw new PiDriveError('conflict', `mqtt.url is set (${safeUrl(config.mqtt.url)}): the bridge uses that broker, whose users are managed there`, {
          'mqtt.url': 'an external broker is configured',
        });
      }
      const eb = config.embedded_broker;
      const credentials = brokerCredentials(dataDir, eb);
      const host = eb.host === '0.0.0.0' || eb.host === '::' || eb.host === '' ? os.hostname() : eb.host;
      return {
        url: `mqtt://${host.includes(':') ? `[${host}]` : host}:${eb.port}`,
        host,
        port: eb.port,
        username: credentials.username,
        password: credentials.password,
        source: credentials.source,
      };
    },
    human(result) {
      const c = result as Credentials;
      return [
        `broker    ${c.url}`,
        `user      ${c.username}`,
        `password  ${c.password}`,
        '',
        'In Home Assistant: Settings → Devices & services → Add integration → MQTT, with these values.',
      ].join('\n');
    },
  },
];
