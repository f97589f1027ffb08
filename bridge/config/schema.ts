import os from 'node:os';
import { z } from 'zod';
import { KeepPolicy } from '../backup/types.ts';
import { DriveId, PoolName } from '../drives/model.ts';

/**
 * The single source of truth for every configuration key. The README's configuration table is
 * generated from these descriptions (`npm run gen:config-docs`), and CI checks it is up to date.
 * Secrets accept a sibling `<key>_file` holding a path to read the value from.
 */

export function slugify(name: string): string {
  const slug = name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 32);
  return slug || 'pidrive';
}

const BridgeId = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'must be a slug: lowercase letters, digits, dashes, underscores');
const LogLevel = z.enum(['debug', 'info', 'warn', 'error']);
const Port = z.number().int().min(0).max(65535);

const bridge = z
  .object({
    id: BridgeId.default(() => slugify(os.hostname())).describe('bridge id used in MQTT topics and Home Assistant ids; default: the hostname, slugified'),
    data_dir: z.string().optional().describe('data directory (database, images, credentials); the --data-dir option and PIDRIVE_DATA_DIR win over it'),
  })
  .strict();

const http = z
  .object({
    host: z.string().default('0.0.0.0').describe('address the HTTP API listens on'),
    port: Port.default(8080).describe('HTTP port (0 picks a free port)'),
    trusted_proxies: z.array(z.string()).default([]).describe('proxy addresses whose X-Forwarded-For is believed'),
    tls_cert_file: z.string().optional().describe('PEM certificate: serve HTTPS (session cookies become Secure)'),
    tls_key_file: z.string().optional().describe('PEM private key for tls_cert_file'),
    max_body_bytes: z.number().int().positive().default(1024 * 1024).describe('largest accepted JSON request body'),
  })
  .strict();

const mqttTls = z
  .object({
    ca_file: z.string().optional().describe('CA certificate (PEM) to verify the broker'),
    cert_file: z.string().optional().describe('client certificate (PEM)'),
    key_file: z.string().optional().describe('client private key (PEM)'),
    reject_unauthorized: z.boolean().default(true).describe('refuse brokers whose certificate does not verify'),
  })
  .strict();

const mqtt = z
  .object({
    url: z
      .string()
      .refine((u) => u === '' || /^(mqtts?|wss?):\/\/[^/?#\s]+/.test(u), 'must be an mqtt://, mqtts://, ws:// or wss:// URL with a host, or empty')
      .default('')
      .describe('broker URL (mqtt://, mqtts://, ws://, wss://); empty starts the embedded broker'),
    username: z.string().optional().describe('broker user name'),
    password: z.string().optional().describe('broker password'),
    password_file: z.string().optional().describe('file holding the broker password'),
    base_topic: z.string().regex(/^[^#+]+$/, 'must not contain MQTT wildcards').default('pidrive').describe('first level of every PiDrive topic'),
    client_id: z.string().optional().describe('MQTT client id; default pidrive_<bridge id>'),
    tls: mqttTls.prefault({}).describe('TLS settings for mqtts:// and wss://'),
    keepalive_s: z.number().int().positive().default(30).describe('MQTT keepalive in seconds'),
    queue_limit: z.number().int().positive().default(1000).describe('messages kept while disconnected; the oldest are dropped beyond it'),
  })
  .strict();

const embeddedBroker = z
  .object({
    host: z.string().default('0.0.0.0').describe('address the embedded broker listens on'),
    port: Port.default(1883).describe('embedded broker port'),
    username: z.string().optional().describe('user for the embedded broker; default: generated on first start'),
    password: z.string().optional().describe('password for the embedded broker; default: generated on first start'),
    password_file: z.string().optional().describe('file holding the embedded broker password'),
  })
  .strict();

const homeassistant = z
  .object({
    discovery: z.boolean().default(true).describe('publish Home Assistant MQTT discovery'),
    discovery_prefix: z.string().default('homeassistant').describe('Home Assistant discovery prefix'),
    status_topic: z.string().default('homeassistant/status').describe('Home Assistant birth topic; "online" republishes everything'),
    websocket_url: z.string().optional().describe('Home Assistant WebSocket URL, reserved for the optional WebSocket link (not used by this version; MQTT carries everything)'),
    websocket_token: z.string().optional().describe('long-lived access token for websocket_url'),
    websocket_token_file: z.string().optional().describe('file holding websocket_token'),
  })
  .strict();

const hexId = z.union([z.number().int().min(0).max(0xffff), z.string().regex(/^0x[0-9a-fA-F]{1,4}$/)]);

const gadget = z
  .object({
    backend: z.enum(['auto', 'configfs', 'simulated']).default('auto').describe('auto uses configfs when a USB device controller exists, else simulated'),
    udc: z.string().default('auto').describe('USB device controller name under /sys/class/udc, or auto'),
    name: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/).default('pidrive').describe('configfs gadget directory name'),
    configfs_root: z.string().default('/sys/kernel/config').describe('where configfs is mounted'),
    sysfs_root: z.string().default('/sys').describe('where sysfs is mounted'),
    vendor_id: hexId.default('0x1d6b').describe('USB idVendor'),
    product_id: hexId.default('0x0104').describe('USB idProduct'),
    manufacturer: z.string().max(126).default('PiDrive').describe('USB manufacturer string'),
    product: z.string().max(126).default('PiDrive virtual drive').describe('USB product string'),
    serial: z.string().max(126).optional().describe('USB serial number; default derived from the bridge id'),
    max_power_ma: z.number().int().min(0).max(900).default(250).describe('MaxPower of the USB configuration in mA'),
    luns: z.number().int().min(1).max(16).default(8).describe('drive slots (capped by the kernel limit, 8 or 16)'),
    nofua: z.boolean().default(false).describe('ignore FUA (faster Windows writes, risk on unplug)'),
    host_idle_s: z.number().positive().default(30).describe('seconds without host writes before host_idle'),
    host_poll_ms: z.number().int().min(100).default(1000).describe('how often the host state is sampled'),
  })
  .strict();

const pool = z.object({ path: z.string().min(1).describe('directory holding the images') }).strict();

const repository = z
  .object({
    url: z.string().min(1).describe('file:///path or s3://bucket/prefix?endpoint=...&region=...'),
    access_key_id: z.string().optional().describe('S3 access key id'),
    secret_access_key: z.string().optional().describe('S3 secret key'),
    secret_access_key_file: z.string().optional().describe('file holding the S3 secret key'),
  })
  .strict();

const schedule = z
  .object({
    drives: z.array(DriveId).min(1).describe('drives to back up'),
    cron: z.string().min(1).describe('cron expression'),
    timezone: z.string().default('UTC').describe('IANA time zone of the cron expression'),
    repository: z.string().min(1).describe('repository name'),
    keep: KeepPolicy.optional().describe('retention applied after each run'),
  })
  .strict();

const backup = z
  .object({
    block_size: z.number().int().min(64 * 1024).max(16 * 1024 * 1024).default(1024 * 1024).describe('block size of new repositories (bytes)'),
    workers: z.number().int().min(0).default(0).describe('hash/compress worker threads; 0 = one per core'),
    suspicious_change_ratio: z.number().min(0).max(1).default(0.5).describe('share of changed blocks that do not compress above which suspicious_change is set'),
    suspicious_min_blocks: z.number().int().min(0).default(64).describe('fewest changed blocks before suspicious_change can be set'),
    gc_grace_hours: z.number().min(0).default(24).describe('unreferenced chunks younger than this survive prune'),
    idle_wait_s: z.number().int().min(0).default(300).describe('how long a backup of an attached drive waits for the host to be idle before it gives up'),
  })
  .strict();

const auth = z
  .object({
    session_idle_minutes: z.number().positive().default(60).describe('browser session idle expiry'),
    session_absolute_hours: z.number().positive().default(24 * 7).describe('browser session absolute expiry'),
    login_max_failures: z.number().int().positive().default(5).describe('failed logins per account or address before lockout'),
    login_lockout_minutes: z.number().positive().default(15).describe('lockout duration'),
  })
  .strict();

const log = z
  .object({
    level: LogLevel.default('info').describe('debug, info, warn or error'),
    format: z.enum(['json', 'pretty']).default('json').describe('json (one object per line) or pretty'),
  })
  .strict();

export const ConfigSchema = z
  .object({
    bridge: bridge.prefault({}),
    http: http.prefault({}),
    mqtt: mqtt.prefault({}),
    embedded_broker: embeddedBroker.prefault({}),
    homeassistant: homeassistant.prefault({}),
    gadget: gadget.prefault({}),
    pools: z.record(PoolName, pool).default({}).describe('named image directories; `local` = <data-dir>/images always exists'),
    repositories: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/), repository).default({}).describe('named backup repositories'),
    schedules: z.array(schedule).default([]).describe('backup schedules'),
    backup: backup.prefault({}),
    auth: auth.prefault({}),
    log: log.prefault({}),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;
