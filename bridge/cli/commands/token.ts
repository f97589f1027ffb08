import { fromZodIssues } from '../../core/errors.ts';
import { CreateTokenInput, type CreatedToken, type Token } from '../../auth/model.ts';
import { offlineAuth } from '../../auth/offline.ts';
import type { CommandSpec } from '../command.ts';
import { viaBridgeOrOffline } from '../offline.ts';

export const commands: CommandSpec[] = [
  {
    name: 'token create',
    summary: 'create an API token for Home Assistant, Node-RED or scripts; it is printed once',
    args: ['NAME'],
    options: { role: { type: 'string' }, drives: { type: 'string' }, expires: { type: 'string' } },
    optionHelp: {
      role: 'admin|operator|viewer   default operator',
      drives: 'a,b        limit the token to these drives',
      expires: '90d        lifetime: 30m, 12h, 90d, 52w or never (default never)',
    },
    async run({ args, options, globals }) {
      const drives = typeof options.drives === 'string' ? options.drives.split(',').map((d) => d.trim()).filter(Boolean) : undefined;
      const parsed = CreateTokenInput.safeParse({
        name: args.NAME,
        ...(options.role !== undefined && { role: options.role }),
        ...(drives !== undefined && { drives }),
        ...(options.expires !== undefined && { expires: options.expires }),
      });
      if (!parsed.success) throw fromZodIssues('bad_request', parsed.error.issues);
      return viaBridgeOrOffline(
        globals,
        (req) => req<CreatedToken>('POST', '/tokens', parsed.data),
        offlineAuth(async (auth, audit) => {
          const created = auth.tokens.create(parsed.data, 'local');
          audit('token.create', { name: created.name, role: created.role, drives: created.drives, expires_at: created.expires_at });
          return created;
        }),
      );
    },
    human: (r) => {
      const t = r as CreatedToken;
      return [
        `created token ${t.name} (${t.role}${t.drives ? `, drives ${t.drives.join(', ')}` : ''}${t.expires_at ? `, expires ${t.expires_at}` : ''})`,
        '',
        `  ${t.token}`,
        '',
        'Copy it now: it is not stored and cannot be shown again.',
      ].join('\n');
    },
  },
  {
    name: 'token list',
    summary: 'list API tokens (never their secrets)',
    args: [],
    options: {},
    async run({ globals }) {
      return viaBridgeOrOffline(globals, (req) => req<Token[]>('GET', '/tokens'), offlineAuth((auth) => auth.tokens.list()));
    },
    human: (r) =>
      (r as Token[]).length === 0
        ? 'no tokens; create one with: pidrive token create NAME'
        : (r as Token[])
            .map((t) => `${t.name.padEnd(24)} ${t.role.padEnd(9)} ${(t.drives?.join(',') ?? 'all drives').padEnd(20)} expires ${t.expires_at ?? 'never'}  last used ${t.last_used_at ?? 'never'}`)
            .join('\n'),
  },
  {
    name: 'token revoke',
    summary: 'revoke an API token (it stops working at once)',
    args: ['NAME'],
    options: {},
    async run({ args, globals }) {
      const name = args.NAME!;
      await viaBridgeOrOffline(
        globals,
        (req) => req<null>('DELETE', `/tokens/${encodeURIComponent(name)}`),
        offlineAuth(async (auth, audit) => {
          auth.tokens.revoke(name);
          audit('token.revoke', { name });
        }),
      );
      return { name, revoked: true };
    },
    human: (r) => `revoked token ${(r as { name: string }).name}`,
  },
];
