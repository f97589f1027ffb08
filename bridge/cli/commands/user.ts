import { fromZodIssues } from '../../core/errors.ts';
import { CreateUserInput, Role, type User } from '../../auth/model.ts';
import { readNewPassword } from '../../auth/password-input.ts';
import { offlineAuth } from '../../auth/offline.ts';
import type { CommandSpec, OptionValues } from '../command.ts';
import { viaBridgeOrOffline } from '../offline.ts';

const path = (name: string): string => `/users/${encodeURIComponent(name)}`;
const stdinOption = { 'password-stdin': { type: 'boolean' } } as const;
const stdinHelp = { 'password-stdin': '  read the password from standard input instead of prompting' };

function parseRole(value: unknown): Role | undefined {
  if (value === undefined) return undefined;
  const r = Role.safeParse(value);
  if (!r.success) throw fromZodIssues('bad_request', r.error.issues, 'role');
  return r.data;
}

async function password(options: OptionValues): Promise<string> {
  return readNewPassword(options['password-stdin'] === true);
}

export const commands: CommandSpec[] = [
  {
    name: 'user add',
    summary: 'add a user (the first user becomes admin); the password is prompted for',
    args: ['NAME'],
    options: { role: { type: 'string' }, ...stdinOption },
    optionHelp: { role: 'admin|operator|viewer   default: admin for the first user, else viewer', ...stdinHelp },
    async run({ args, options, globals }) {
      const role = parseRole(options.role);
      const parsed = CreateUserInput.safeParse({ name: args.NAME, password: await password(options), ...(role && { role }) });
      if (!parsed.success) throw fromZodIssues('bad_request', parsed.error.issues);
      return viaBridgeOrOffline(
        globals,
        (req) => req<User>('POST', '/users', parsed.data),
        offlineAuth(async (auth, audit) => {
          const user = await auth.addUser(parsed.data);
          audit('user.add', { name: user.name, role: user.role });
          return user;
        }),
      );
    },
    human: (r) => `added user ${(r as User).name} (${(r as User).role})`,
  },
  {
    name: 'user list',
    summary: 'list users and their roles',
    args: [],
    options: {},
    async run({ globals }) {
      return viaBridgeOrOffline(globals, (req) => req<User[]>('GET', '/users'), offlineAuth((auth) => auth.users.list()));
    },
    human: (r) => ((r as User[]).length === 0 ? 'no users; add one with: pidrive user add NAME' : (r as User[]).map((u) => `${u.name.padEnd(24)} ${u.role}`).join('\n')),
  },
  {
    name: 'user rm',
    summary: 'remove a user (the last admin cannot be removed)',
    args: ['NAME'],
    options: {},
    async run({ args, globals }) {
      const name = args.NAME!;
      await viaBridgeOrOffline(
        globals,
        (req) => req<null>('DELETE', path(name)),
        offlineAuth(async (auth, audit) => {
          auth.users.remove(name);
          audit('user.remove', { name });
        }),
      );
      return { name, removed: true };
    },
    human: (r) => `removed user ${(r as { name: string }).name}`,
  },
  {
    name: 'user passwd',
    summary: "set a user's password (their other sessions end)",
    args: ['NAME'],
    options: { ...stdinOption },
    optionHelp: { ...stdinHelp },
    async run({ args, options, globals }) {
      const name = args.NAME!;
      const parsed = CreateUserInput.shape.password.safeParse(await password(options));
      if (!parsed.success) throw fromZodIssues('bad_request', parsed.error.issues, 'password');
      return viaBridgeOrOffline(
        globals,
        (req) => req<User>('PATCH', path(name), { password: parsed.data }),
        offlineAuth(async (auth, audit) => {
          const user = await auth.setPassword(name, parsed.data);
          audit('user.update', { name, password_changed: true });
          return user;
        }),
      );
    },
    human: (r) => `changed the password of ${(r as User).name}`,
  },
  {
    name: 'user role',
    summary: "change a user's role",
    args: ['NAME', 'ROLE'],
    options: {},
    async run({ args, globals }) {
      const name = args.NAME!;
      const role = parseRole(args.ROLE)!;
      return viaBridgeOrOffline(
        globals,
        (req) => req<User>('PATCH', path(name), { role }),
        offlineAuth(async (auth, audit) => {
          const user = auth.users.setRole(name, role);
          audit('user.update', { name, role, password_changed: false });
          return user;
        }),
      );
    },
    human: (r) => `${(r as User).name} is now ${(r as User).role}`,
  },
];
