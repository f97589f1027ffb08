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
  /** One line per option for --help, e.g. {size: 'SIZE  like 64M, 32G, 500MiB'}; its first word is the value's placeholder. */
  optionHelp?: Record<string, string>;
  /** Options that must be given: shown outside the brackets and refused with exit 2 when missing. */
  required?: string[];
  run(input: { args: Record<string, string | undefined>; options: OptionValues; globals: GlobalOptions }): Promise<unknown>;
  human?(result: unknown): string;
}

/** `--size SIZE`: an option with its value placeholder (the first word of its help). */
export function optionUsage(cmd: CommandSpec, name: string): string {
  const placeholder = /^\S+/.exec(cmd.optionHelp?.[name] ?? '')?.[0];
  return `--${name}${placeholder ? ` ${placeholder}` : ''}`;
}

/** `drive create ID --size SIZE`: the command, its arguments ([optional]) and its required options. */
export function synopsis(cmd: CommandSpec): string {
  const args = cmd.args.map((a) => (a.endsWith('?') ? `[${a.slice(0, -1)}]` : a));
  const required = (cmd.required ?? []).map((o) => optionUsage(cmd, o));
  return [cmd.name, ...args, ...required].join(' ');
}
