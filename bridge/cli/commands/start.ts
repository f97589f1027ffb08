import { loadConfig } from '../../config/load.ts';
import { PiDriveError } from '../../core/errors.ts';
import { createLogger, type Logger } from '../../core/logger.ts';
import type { CommandSpec, GlobalOptions } from '../command.ts';

type Loaded = ReturnType<typeof loadConfig> & { log: Logger };

function load(globals: GlobalOptions): Loaded {
  const loaded = loadConfig({ dataDir: globals.dataDir, configFile: globals.config });
  const log = createLogger({ level: loaded.config.log.level, format: loaded.config.log.format });
  log.info('configuration loaded', { config_file: loaded.configFile ?? '(none: embedded defaults)', data_dir: loaded.dataDir });
  return { ...loaded, log };
}

function problem(err: unknown): Record<string, unknown> {
  return err instanceof PiDriveError ? { error: err.message, fields: err.fields } : { error: String(err) };
}

export const commands: CommandSpec[] = [
  {
    name: 'start',
    summary: 'run the bridge (HTTP API, MQTT, USB gadget, backup scheduler) until SIGTERM or SIGINT',
    args: [],
    options: {},
    async run({ globals }) {
      // Loaded on demand: the daemon's dependencies (express, MQTT, gadget) are not needed by other commands.
      const { Bridge } = await import('../../controller.ts');
      let stopSignal: string | null = null;
      let restartAsked = false;
      let wake: () => void = () => {};
      for (const s of ['SIGTERM', 'SIGINT'] as const) {
        process.on(s, () => {
          // A second signal while a shutdown hangs ends the process the hard way, as Node's default would.
          if (stopSignal !== null) process.exit(1);
          stopSignal = s;
          wake();
        });
      }
      // A restart (Home Assistant's button, the `restart` request) happens in this process with the
      // configuration read anew, so it works with or without a supervisor. An invalid configuration
      // refuses it; one that cannot start (a port in use) falls back to the last one that did.
      const restart = {
        check: () => void loadConfig({ dataDir: globals.dataDir, configFile: globals.config }),
        request: () => {
          restartAsked = true;
          wake();
        },
      };
      let loaded = load(globals);
      let lastGood: Loaded | null = null;
      for (;;) {
        const { config, dataDir, log } = loaded;
        const bridge = new Bridge({ config, dataDir, log, restart });
        try {
          await bridge.start();
          lastGood = loaded;
        } catch (err) {
          log.info('shutting down', { signal: 'start failed' });
          await bridge.stop();
          if (!lastGood || lastGood === loaded || stopSignal !== null) throw err;
          lastGood.log.error('the restarted bridge failed to start; starting again with the previous configuration', problem(err));
          loaded = lastGood;
          continue;
        }
        let next: Loaded | null = null;
        while (stopSignal === null && next === null) {
          if (!restartAsked) await new Promise<void>((resolve) => (wake = resolve));
          if (stopSignal !== null) break;
          restartAsked = false;
          try {
            next = load(globals);
          } catch (err) {
            log.error('restart refused: the configuration is invalid; the bridge keeps running as it is', problem(err));
          }
        }
        log.info(stopSignal ? 'shutting down' : 'restarting', { signal: stopSignal ?? 'restart' });
        await bridge.stop();
        if (stopSignal !== null || !next) return { stopped: true };
        loaded = next;
      }
    },
    human: () => '',
  },
];
