import { z } from 'zod';
import { PiDriveError } from '../../core/errors.ts';
import { CreateUserInput, UpdateUserInput, User, UserName } from '../../auth/model.ts';
import { roleAllows } from '../../auth/roles.ts';
import { defineRoute, type AnyRoute } from '../route.ts';

const UserParams = z.object({ name: UserName }).strict();

export const userRoutes: AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/users',
    summary: 'Users and their roles',
    access: 'admin',
    response: z.array(User),
    handler: ({ deps }) => deps.auth.users.list(),
  }),
  defineRoute({
    method: 'post',
    path: '/users',
    summary: 'Add a user (the first user must be an admin)',
    access: 'admin',
    body: CreateUserInput,
    response: User,
    status: 201,
    audit: { action: 'user.add' },
    async handler({ deps, body, audit }) {
      const user = await deps.auth.addUser(body);
      audit.details = { name: user.name, role: user.role };
      return user;
    },
  }),
  defineRoute({
    method: 'patch',
    path: '/users/{name}',
    summary: 'Change a role or password (admin); users change their own password with current_password',
    access: 'any',
    params: UserParams,
    body: UpdateUserInput,
    response: User,
    audit: { action: 'user.update' },
    async handler({ deps, principal, params, body, audit }) {
      const admin = roleAllows(principal.role, 'admin');
      const self = principal.kind === 'user' && principal.name === params.name;
      if (!admin) {
        if (!self || body.role !== undefined) throw new PiDriveError('forbidden', 'only an admin changes roles and other users\' passwords');
        if (body.password === undefined) throw new PiDriveError('bad_request', 'send the new password', { password: 'required' });
        if (body.current_password === undefined || !(await deps.auth.checkPassword(params.name, body.current_password))) {
          throw new PiDriveError('forbidden', 'the current password is wrong', { current_password: 'wrong' });
        }
      }
      let user = body.role !== undefined ? deps.auth.users.setRole(params.name, body.role) : deps.auth.users.get(params.name);
      if (body.password !== undefined) user = await deps.auth.setPassword(params.name, body.password, self ? principal.session?.hash : undefined);
      audit.details = { name: params.name, ...(body.role !== undefined && { role: body.role }), password_changed: body.password !== undefined };
      return User.parse(user);
    },
  }),
  defineRoute({
    method: 'delete',
    path: '/users/{name}',
    summary: 'Remove a user (their sessions end; the last admin cannot be removed)',
    access: 'admin',
    params: UserParams,
    audit: { action: 'user.remove' },
    handler({ deps, params, audit }) {
      deps.auth.users.remove(params.name);
      audit.details = { name: params.name };
    },
  }),
];
