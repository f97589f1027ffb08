import { loadConfig } from '../../config/load.ts';
import { createLogger } from '../../core/logger.ts';
import type { CommandSpec } from '../command.ts';

export const commands: CommandSpec[] = [
  {
    name: 'start',
    summary: 'run the bridge (HTTP API, MQTT, USB gadget, backup scheduler) until SIGTERM or SIGINT',
    args: [],
    options: {},
    async run({ globals }) {
      const { config, dataDir, configFile } = loadConfig({ dataDir: globals.dataDir, configFile: globals.config });
      const log = createLogger({ level: config.log.level, format: config.log.format });
      log.info('configuration loaded', { config_file: configFile ?? '(none: embedded defaults)', data_dir: dataDir });
      // Loaded on demand: the daemon's dependencies (express, MQTT, gadget) are not needed by other commands.
      const { Bridge } = await import('../../controller.ts');
      const bridge = new Bridge({ config, dataDir, log });
      let stopping: Promise<void> | null = null;
      const stop = (signal: string): Promise<void> => {
        stopping ??= (async () => {
          log.info('shutting down', { signal });
          await bridge.stop();
        })();
        return stopping;
      };
      const done = new Promise<void>((resolve) => {
        for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void stop(signal).then(resolve));
      });
      try {
        await bridge.start();
      } catch (err) {
        await stop('start failed');
        throw err;
      }
      await done;
      return { stopped: true };
    },
    human: () => '',
  },
];
