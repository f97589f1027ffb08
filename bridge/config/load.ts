import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { z } from 'zod';
import { fromZodIssues, PiDriveError } from '../core/errors.ts';
import { ConfigSchema, type Config } from './schema.ts';

export interface LoadOptions {
  /** --data-dir; wins over PIDRIVE_DATA_DIR and bridge.data_dir. */
  dataDir?: string | undefined;
  /** --config; wins over PIDRIVE_CONFIG and <data-dir>/pidrive.yaml. */
  configFile?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

export interface LoadedConfig {
  config: Config;
  dataDir: string;
  configFile: string | null;
}

const ENV_PREFIX = 'PIDRIVE_';
const NOT_OVERRIDES = new Set(['PIDRIVE_DATA_DIR', 'PIDRIVE_CONFIG']);

/**
 * File, then `PIDRIVE_<SECTION>__<KEY>` variables, then `*_file` secrets, then one validation
 * that reports every problem by path. Throws PiDriveError('invalid_config') → exit 2.
 */
export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  // An empty variable counts as unset, as shells and systemd units often leave them.
  const earlyDataDir = options.dataDir || env.PIDRIVE_DATA_DIR || undefined;
  let configFile = options.configFile || env.PIDRIVE_CONFIG || null;
  if (!configFile) {
    const candidate = path.join(earlyDataDir ?? './data', 'pidrive.yaml');
    if (fs.existsSync(candidate)) configFile = candidate;
  }

  const raw = configFile ? readYaml(configFile) : {};
  const problems: Record<string, string> = {};
  applyEnvOverrides(raw, env, problems);
  resolveSecretFiles(raw, problems);
  const parsed = ConfigSchema.safeParse(raw);
  const issues = [
    ...Object.entries(problems).map(([p, message]) => ({ path: [p], message })),
    ...(parsed.success ? [] : parsed.error.issues),
  ];
  if (!parsed.success || issues.length > 0) throw fromZodIssues('invalid_config', issues);
  const config = parsed.data;
  const dataDir = path.resolve(earlyDataDir ?? config.bridge.data_dir ?? './data');
  return { config, dataDir, configFile: configFile ? path.resolve(configFile) : null };
}

function readYaml(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new PiDriveError('invalid_config', `cannot read the configuration file ${file}: ${(err as Error).message}`, { config: file });
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw new PiDriveError('invalid_config', `${file} is not valid YAML: ${(err as Error).message}`, { config: file });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new PiDriveError('invalid_config', `${file} must hold a mapping of sections`, { config: file });
  }
  return doc as Record<string, unknown>;
}

/** `PIDRIVE_MQTT__URL=...` → raw.mqtt.url; typed by the schema so a password "1234" stays a string. */
function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv, problems: Record<string, string>): void {
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || NOT_OVERRIDES.has(name) || value === undefined) continue;
    const keys = name.slice(ENV_PREFIX.length).toLowerCase().split('__');
    const leaf = leafSchema(keys);
    const where = `env ${name}`;
    if (!leaf) {
      problems[where] = `no configuration key ${keys.join('.')}`;
      continue;
    }
    let parsed: unknown = value;
    if (!acceptsString(leaf)) {
      try {
        parsed = YAML.parse(value);
      } catch {
        problems[where] = `cannot parse "${value}"`;
        continue;
      }
    }
    let node: Record<string, unknown> = raw;
    for (const key of keys.slice(0, -1)) {
      const next = node[key];
      if (next === undefined || next === null) node[key] = {};
      else if (typeof next !== 'object') {
        problems[where] = `${key} is not a section`;
        break;
      }
      node = node[key] as Record<string, unknown>;
    }
    node[keys.at(-1)!] = parsed;
  }
}

/** Every `<key>_file` next to a `<key>` the schema knows is read into `<key>` (trailing newline dropped). */
function resolveSecretFiles(node: unknown, problems: Record<string, string>, at: string[] = []): void {
  if (!node || typeof node !== 'object' || Array.isArray(node)) return;
  const obj = node as Record<string, unknown>;
  for (const [key, value] of Object.entries(obj)) {
    if (key.endsWith('_file') && typeof value === 'string' && leafSchema([...at, key.slice(0, -5)])) {
      try {
        obj[key.slice(0, -5)] = fs.readFileSync(value, 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        problems[[...at, key].join('.')] = `cannot read ${value}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
      }
    } else {
      resolveSecretFiles(value, problems, [...at, key]);
    }
  }
}

type AnySchema = z.core.$ZodType;

function unwrap(schema: AnySchema): AnySchema {
  let s = schema;
  for (;;) {
    const def = s._zod.def as { type: string; innerType?: AnySchema };
    if ((def.type === 'default' || def.type === 'optional' || def.type === 'prefault' || def.type === 'nullable') && def.innerType) s = def.innerType;
    else return s;
  }
}

function leafSchema(keys: string[]): AnySchema | null {
  let s: AnySchema = ConfigSchema;
  for (const key of keys) {
    const u = unwrap(s);
    const def = u._zod.def as { type: string; shape?: Record<string, AnySchema>; valueType?: AnySchema };
    if (def.type === 'object' && def.shape && key in def.shape) s = def.shape[key]!;
    else if (def.type === 'record' && def.valueType) s = def.valueType;
    else return null;
  }
  return s;
}

function acceptsString(schema: AnySchema): boolean {
  const def = unwrap(schema)._zod.def as { type: string; options?: AnySchema[] };
  if (def.type === 'string' || def.type === 'enum') return true;
  if (def.type === 'union' && def.options) return def.options.some(acceptsString);
  return false;
}
