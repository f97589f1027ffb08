import fs from 'node:fs';
import type { AddRepositoryInput, Repository } from '../../backup/types.ts';
import { PiDriveError } from '../../core/errors.ts';
import { SizeString } from '../../drives/size.ts';
import { formatBytes } from '../../pools/registry.ts';
import type { CommandSpec, OptionValues } from '../command.ts';
import { viaBridgeOrOffline } from '../offline.ts';
import { withBackupService } from './backup.ts';

const str = (o: OptionValues, k: string): string | undefined => o[k] as string | undefined;

function readSecret(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    throw new PiDriveError('bad_request', `cannot read ${file}`, { 'secret-access-key-file': 'unreadable' });
  }
}

export const commands: CommandSpec[] = [
  {
    name: 'repo add',
    summary: 'add a backup repository (created when the place is empty): file:///path or s3://bucket/prefix?endpoint=...&region=...',
    args: ['NAME', 'URL'],
    options: { 'block-size': { type: 'string' }, 'access-key-id': { type: 'string' }, 'secret-access-key-file': { type: 'string' } },
    optionHelp: {
      'block-size': 'SIZE   block size of a new repository, 256K to 4M (default backup.block_size, 1M)',
      'access-key-id': 'ID  S3 access key id',
      'secret-access-key-file': 'FILE  file holding the S3 secret key (kept out of the command line and shell history)',
    },
    async run({ args, options, globals }) {
      const blockSize = str(options, 'block-size');
      let block_size: number | undefined;
      if (blockSize !== undefined) {
        const parsed = SizeString.safeParse(blockSize);
        if (!parsed.success) throw new PiDriveError('bad_request', `--block-size: ${parsed.error.issues[0]!.message}`, { 'block-size': 'not a size' });
        block_size = parsed.data;
      }
      const secretFile = str(options, 'secret-access-key-file');
      const body: AddRepositoryInput = {
        name: args.NAME!,
        url: args.URL!,
        ...(block_size !== undefined ? { block_size } : {}),
        ...(options['access-key-id'] !== undefined ? { access_key_id: str(options, 'access-key-id')! } : {}),
        ...(secretFile !== undefined ? { secret_access_key: readSecret(secretFile) } : {}),
      };
      return viaBridgeOrOffline(
        globals,
        (req) => req<Repository>('POST', '/repositories', body),
        (ctx) => withBackupService(ctx, (s) => s.addRepository(body, 'local')),
      );
    },
    human: (r) => `added repository ${(r as Repository).name} (${(r as Repository).kind}, ${formatBytes((r as Repository).block_size ?? 0)} blocks) at ${(r as Repository).url}`,
  },
  {
    name: 'repo list',
    summary: 'list backup repositories and whether they can be reached',
    args: [],
    options: {},
    async run({ globals }) {
      return viaBridgeOrOffline(
        globals,
        (req) => req<Repository[]>('GET', '/repositories'),
        (ctx) => withBackupService(ctx, (s) => s.listRepositories()),
      );
    },
    human: (r) => {
      const list = r as Repository[];
      if (list.length === 0) return 'no repositories; add one with: pidrive repo add NAME file:///path';
      return list
        .map((x) => `${x.name.padEnd(12)} ${x.kind.padEnd(6)} ${(x.block_size ? formatBytes(x.block_size) : '-').padEnd(8)} ${x.available ? 'ok'.padEnd(12) : 'UNAVAILABLE'} ${x.url}${x.reason ? `  (${x.reason})` : ''}`)
        .join('\n');
    },
  },
];
