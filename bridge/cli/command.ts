import type { ParseArgsOptionsConfig } from 'node:util';

/** Options every command accepts (see the contract's "Command line" section). */
export interface GlobalOptions {
  dataDir: string | undefined;
  config: string | undefined;
  json: boolean;
}

export type OptionValues = Record<string, string | boolean | Array<string | boolean> | undefined>;

/**
 * One `pidrive` command. `run` returns the command's JSON result (the same field names as the HTTP
 * API); the framework prints it with `--json`, or `human(result)` otherwise, and maps thrown
 * PiDriveErrors to `{"error": ...}` and exit codes 1/2.
 */
export interface CommandSpec {
  /** Words that select it, e.g. "drive create". */
  name: string;
  summary: string;
  /** Positional arguments in order, e.g. ['ID']; a trailing '?' marks one optional. */
  args: string[];
  options: ParseArgsOptionsConfig;
  /** One line per option for --help, e.g. {size: 'SIZE  like 64M, 32G, 500MiB'}. */
  optionHelp?: Record<string, string>;
  run(input: { args: Record<string, string | undefined>; options: OptionValues; globals: GlobalOptions }): Promise<unknown>;
  human?(result: unknown): string;
}
