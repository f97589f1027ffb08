import path from 'node:path';
import type { CreateDriveInput } from '../../drives/inputs.ts';
import type { Drive } from '../../drives/model.ts';
import { formatBytes } from '../../pools/registry.ts';
import { bridgeRequest } from '../control-client.ts';
import type { CommandSpec, OptionValues } from '../command.ts';
import { resolveGlobals, viaBridgeOrOffline } from '../offline.ts';
import { progressReporter } from '../progress.ts';

const LOCAL = { actor: 'local', source: 'cli' };

function table(drives: Drive[]): string {
  if (drives.length === 0) return 'no drives; create one with: pidrive drive create ID --size 8G';
  const rows = drives.map((d) => [
    d.id,
    formatBytes(d.size_bytes),
    formatBytes(d.allocated_bytes),
    d.filesystem,
    d.label ?? '',
    d.mode,
    d.attached ? 'attached' : 'detached',
    d.pool + (d.available ? '' : ` (${d.unavailable_reason ?? 'unavailable'})`),
  ]);
  const head = ['ID', 'SIZE', 'ALLOCATED', 'FS', 'LABEL', 'MODE', 'STATE', 'POOL'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

function details(d: Drive): string {
  return Object.entries(d)
    .map(([k, v]) => `${k.padEnd(18)} ${k.endsWith('_bytes') && typeof v === 'number' ? `${formatBytes(v)} (${v})` : String(v)}`)
    .join('\n');
}

const str = (o: OptionValues, k: string): string | undefined => o[k] as string | undefined;

/** What `drive rm` did with the image, told from the drive as it was just before. */
interface Removed {
  id: string;
  removed_file: boolean;
  image: 'deleted' | 'kept' | 'missing';
  reason: string | null;
}

function removedText(r: Removed): string {
  if (r.image === 'deleted') return `removed drive ${r.id} and its image`;
  if (r.image === 'kept') return `removed drive ${r.id}; its referenced image was kept`;
  return `removed drive ${r.id}; no image was deleted (${r.reason ?? 'image unavailable'})`;
}

export const commands: CommandSpec[] = [
  {
    name: 'drive create',
    summary: 'create a sparse drive image, formatted',
    args: ['ID'],
    options: { size: { type: 'string' }, fs: { type: 'string' }, label: { type: 'string' }, partition: { type: 'string' }, pool: { type: 'string' } },
    required: ['size'],
    optionHelp: {
      size: 'SIZE       64M, 32G, 500MiB, 1.5GiB (K/M/G/T binary, KB/MB/GB decimal)',
      fs: 'fat32|exfat|none   default fat32',
      label: 'L         volume label (FAT32: 11 characters, exFAT: 15)',
      partition: 'mbr|none   default mbr (one partition at 1 MiB), none for --fs none',
      pool: 'P          default local',
    },
    async run({ args, options, globals }) {
      const body = {
        id: args.ID,
        size: str(options, 'size')!,
        ...(options.fs !== undefined && { fs: options.fs }),
        ...(options.label !== undefined && { label: options.label }),
        ...(options.partition !== undefined && { partition: options.partition }),
        ...(options.pool !== undefined && { pool: options.pool }),
      } as CreateDriveInput;
      return viaBridgeOrOffline(
        globals,
        (req) => req<Drive>('POST', '/drives', body),
        (ctx) => ctx.drives.create(body, LOCAL),
      );
    },
    human: (r) => `created drive ${(r as Drive).id} (${formatBytes((r as Drive).size_bytes)}, ${(r as Drive).filesystem}) at ${(r as Drive).path}`,
  },
  {
    name: 'drive import',
    summary: 'adopt an existing image or ISO (copied sparse, or referenced where it lies in a pool)',
    args: ['ID'],
    options: { from: { type: 'string' }, mode: { type: 'string' }, cdrom: { type: 'boolean' }, pool: { type: 'string' } },
    required: ['from'],
    optionHelp: {
      from: 'PATH       the image or ISO file',
      mode: 'copy|reference   default copy; reference needs the file inside a pool',
      cdrom: '          present it as a CD-ROM (ISO images are detected automatically)',
      pool: 'P          pool for the copy, default local',
    },
    async run({ args, options, globals }) {
      const body = {
        id: args.ID!,
        // Resolved here: the running bridge has its own working directory.
        from: path.resolve(str(options, 'from')!),
        ...(options.mode !== undefined && { mode: options.mode as 'copy' | 'reference' }),
        ...(options.cdrom !== undefined && { cdrom: options.cdrom as boolean }),
        ...(options.pool !== undefined && { pool: str(options, 'pool') }),
      };
      return viaBridgeOrOffline(
        globals,
        (req) => req<Drive>('POST', '/drives', body),
        async (ctx) => {
          const bar = progressReporter(`import ${body.id}`, globals.json);
          try {
            return await ctx.drives.import(body, LOCAL, (done, total) => bar.update(done, total));
          } finally {
            bar.finish();
          }
        },
      );
    },
    human: (r) => `imported drive ${(r as Drive).id} (${formatBytes((r as Drive).size_bytes)}, ${(r as Drive).filesystem}, ${(r as Drive).mode})`,
  },
  {
    name: 'drive list',
    summary: 'list drives',
    args: [],
    options: {},
    async run({ globals }) {
      return viaBridgeOrOffline(globals, (req) => req<Drive[]>('GET', '/drives'), async (ctx) => ctx.drives.views());
    },
    human: (r) => table(r as Drive[]),
  },
  {
    name: 'drive show',
    summary: 'show one drive',
    args: ['ID'],
    options: {},
    async run({ args, globals }) {
      const id = args.ID!;
      return viaBridgeOrOffline(globals, (req) => req<Drive>('GET', `/drives/${encodeURIComponent(id)}`), async (ctx) => ctx.drives.view(id));
    },
    human: (r) => details(r as Drive),
  },
  {
    name: 'drive resize',
    summary: 'grow a drive (never shrinks); the partition grows with it',
    args: ['ID'],
    options: { size: { type: 'string' } },
    required: ['size'],
    optionHelp: { size: 'SIZE       the new, larger size' },
    async run({ args, options, globals }) {
      const id = args.ID!;
      const size = str(options, 'size')!;
      return viaBridgeOrOffline(
        globals,
        (req) => req<{ drive: Drive; notes: string[] }>('PATCH', `/drives/${encodeURIComponent(id)}`, { size }),
        (ctx) => ctx.drives.resize(id, size, LOCAL),
      );
    },
    human: (r) => {
      const { drive, notes } = r as { drive: Drive; notes: string[] };
      return `drive ${drive.id} is now ${formatBytes(drive.size_bytes)}: ${notes.join('; ')}`;
    },
  },
  {
    name: 'drive rm',
    summary: 'remove a drive and its image (refused while attached; referenced images are kept)',
    args: ['ID'],
    options: { force: { type: 'boolean' } },
    optionHelp: { force: '          unregister a drive whose image or pool is missing' },
    async run({ args, options, globals }) {
      const id = args.ID!;
      const force = options.force === true;
      const apiPath = `/drives/${encodeURIComponent(id)}`;
      const { before, removed_file } = await viaBridgeOrOffline(
        globals,
        async (req) => ({ before: await req<Drive>('GET', apiPath), ...(await req<{ removed_file: boolean }>('DELETE', `${apiPath}${force ? '?force=true' : ''}`)) }),
        async (ctx) => ({ before: ctx.drives.view(id), ...(await ctx.drives.remove(id, { force }, LOCAL)) }),
      );
      const image = removed_file ? 'deleted' : before.available ? 'kept' : 'missing';
      return { id, removed_file, image, reason: before.unavailable_reason } satisfies Removed;
    },
    human: (r) => removedText(r as Removed),
  },
  ...(['attach', 'detach', 'eject'] as const).map(
    (action): CommandSpec => ({
      name: `drive ${action}`,
      summary:
        action === 'attach'
          ? 'present a drive to the USB host (through the running bridge)'
          : action === 'detach'
            ? 'stop presenting a drive to the USB host'
            : 'detach even when the host has locked the medium',
      args: ['ID'],
      options: action === 'attach' ? { mode: { type: 'string' } } : {},
      optionHelp: action === 'attach' ? { mode: 'M          read_write|read_only|cdrom (changes the mode first)' } : {},
      async run({ args, options, globals }) {
        const { dataDir } = resolveGlobals(globals);
        const body = action === 'attach' && options.mode !== undefined ? { mode: options.mode } : {};
        return bridgeRequest(dataDir, 'POST', `/drives/${encodeURIComponent(args.ID!)}/${action}`, body);
      },
      human: (r) => {
        const res = r as { drive?: Drive; method?: string } & Partial<Drive>;
        const drive = res.drive ?? (res as Drive);
        return `${drive.id}: ${drive.attached ? `attached (${drive.mode})` : 'detached'}${res.method ? ` via ${res.method}` : ''}`;
      },
    }),
  ),
];
