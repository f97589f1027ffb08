#!/usr/bin/env node
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { PiDriveError } from '../core/errors.ts';
import { VERSION } from '../version.ts';
import { synopsis, type CommandSpec, type GlobalOptions } from './command.ts';
import { allCommands } from './commands/index.ts';

const GLOBAL_OPTIONS: ParseArgsOptionsConfig = {
  'data-dir': { type: 'string' },
  config: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

const GLOBAL_HELP = `Global options:
  --data-dir DIR   data directory (env PIDRIVE_DATA_DIR, default ./data)
  --config FILE    configuration file (env PIDRIVE_CONFIG, default <data-dir>/pidrive.yaml when present)
  --json           machine output: one JSON document on stdout, progress on stderr
  -h, --help       help for any command`;

function usage(cmd: CommandSpec): string {
  const opts = Object.entries(cmd.optionHelp ?? {}).map(([k, v]) => `  --${k} ${v}${cmd.required?.includes(k) ? '  (required)' : ''}`);
  const optional = Object.keys(cmd.options).some((o) => !cmd.required?.includes(o));
  return [`Usage: pidrive ${synopsis(cmd)}${optional ? ' [options]' : ''}`, '', cmd.summary, ...(opts.length ? ['', 'Options:', ...opts] : []), '', GLOBAL_HELP].join('\n');
}

function overview(prefix: string): string {
  const list = allCommands.filter((c) => c.name.startsWith(prefix));
  const width = Math.max(...list.map((c) => c.name.length));
  return [
    `pidrive ${VERSION}: virtual USB drives for Home Assistant, Node-RED and scripts`,
    '',
    'Commands:',
    ...list.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    GLOBAL_HELP,
    '',
    'Exit codes: 0 done, 1 the operation failed, 2 bad usage or configuration.',
  ].join('\n');
}

/** Positional words of argv: option values (`--data-dir DIR`) are skipped, whichever command takes them. */
function commandWords(argv: string[]): Array<{ word: string; index: number }> {
  const takesValue = new Set<string>();
  for (const [name, o] of Object.entries(GLOBAL_OPTIONS)) if (o.type === 'string') takesValue.add(`--${name}`);
  for (const c of allCommands) for (const [name, o] of Object.entries(c.options)) if (o.type === 'string') takesValue.add(`--${name}`);
  const words: Array<{ word: string; index: number }> = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('-')) {
      if (takesValue.has(a)) i++;
    } else words.push({ word: a, index: i });
  }
  return words;
}

/** The longest run of leading words that names a command ("drive create" before "drive"). */
function findCommand(words: string[]): { cmd: CommandSpec | null } {
  for (let n = Math.min(2, words.length); n > 0; n--) {
    const name = words.slice(0, n).join(' ');
    const cmd = allCommands.find((c) => c.name === name);
    if (cmd) return { cmd };
  }
  return { cmd: null };
}

/** With --json stdout carries exactly one JSON document; help for a usage error goes to stderr either way. */
function fail(err: unknown, json: boolean, help?: string): number {
  const e = err instanceof PiDriveError ? err : new PiDriveError('internal', err instanceof Error ? err.message : String(err));
  if (json) process.stdout.write(JSON.stringify(e.toJSON()) + '\n');
  else process.stderr.write(`pidrive: ${e.message}\n`);
  if (help) process.stderr.write(`\n${help}\n`);
  return e.exitCode;
}

export async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const positional = commandWords(argv);
  const words = positional.map((p) => p.word);
  const { cmd } = findCommand(words);
  if (!cmd) {
    if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) {
      process.stdout.write(overview(words[0] ?? '') + '\n');
      return 0;
    }
    const group = words.length && allCommands.some((c) => c.name.startsWith(words[0]! + ' ')) ? words[0]! : '';
    return fail(new PiDriveError('bad_request', words.length ? `unknown command "${words.join(' ')}"` : 'no command given'), json, overview(group));
  }
  // Drop the command words and parse the rest strictly.
  const commandIndexes = new Set(positional.slice(0, cmd.name.split(' ').length).map((p) => p.index));
  const rest = argv.filter((_, i) => !commandIndexes.has(i));
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: rest, options: { ...GLOBAL_OPTIONS, ...cmd.options }, allowPositionals: true, strict: true });
  } catch (err) {
    return fail(new PiDriveError('bad_request', (err as Error).message), json, usage(cmd));
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(usage(cmd) + '\n');
    return 0;
  }
  const required = cmd.args.filter((a) => !a.endsWith('?'));
  if (positionals.length < required.length || positionals.length > cmd.args.length) {
    return fail(new PiDriveError('bad_request', `expected ${cmd.args.join(' ') || 'no arguments'}`), json, usage(cmd));
  }
  const missing = (cmd.required ?? []).filter((o) => values[o] === undefined);
  if (missing.length) {
    const fields = Object.fromEntries(missing.map((o) => [o, 'required']));
    return fail(new PiDriveError('bad_request', missing.map((o) => `--${o} is required`).join('; '), fields), json, usage(cmd));
  }
  const args = Object.fromEntries(cmd.args.map((a, i) => [a.replace(/\?$/, ''), positionals[i]]));
  const globals: GlobalOptions = {
    dataDir: values['data-dir'] as string | undefined,
    config: values.config as string | undefined,
    json: values.json === true,
  };
  try {
    const result = await cmd.run({ args, options: values, globals });
    if (globals.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    else {
      const text = cmd.human ? cmd.human(result) : JSON.stringify(result, null, 2);
      if (text) process.stdout.write(text + '\n');
    }
    return 0;
  } catch (err) {
    return fail(err, globals.json);
  }
}

process.exitCode = await main(process.argv.slice(2));
