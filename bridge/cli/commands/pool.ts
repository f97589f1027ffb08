import path from 'node:path';
import { formatBytes, type Pool } from '../../pools/registry.ts';
import type { CommandSpec } from '../command.ts';
import { viaBridgeOrOffline } from '../offline.ts';

export const commands: CommandSpec[] = [
  {
    name: 'pool add',
    summary: 'add a directory (local disk, NAS mount, USB disk) as a pool for images',
    args: ['NAME', 'PATH'],
    options: {},
    async run({ args, globals }) {
      // Resolved here: the running bridge has its own working directory.
      const body = { name: args.NAME!, path: path.resolve(args.PATH!) };
      return viaBridgeOrOffline(globals, (req) => req<Pool>('POST', '/pools', body), async (ctx) => ctx.pools.add(body));
    },
    human: (r) => `added pool ${(r as Pool).name} at ${(r as Pool).path}`,
  },
  {
    name: 'pool list',
    summary: 'list pools with free space and availability',
    args: [],
    options: {},
    async run({ globals }) {
      return viaBridgeOrOffline(globals, (req) => req<Pool[]>('GET', '/pools'), async (ctx) => ctx.pools.list());
    },
    human: (r) =>
      (r as Pool[])
        .map((p) => `${p.name.padEnd(12)} ${p.available ? `${formatBytes(p.free_bytes ?? 0)} free`.padEnd(16) : 'UNAVAILABLE'.padEnd(16)} ${p.path}${p.reason ? `  (${p.reason})` : ''}`)
        .join('\n'),
  },
];
