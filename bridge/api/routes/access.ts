import { PiDriveError } from '../../core/errors.ts';
import { DriveAccess, SetDriveAccessInput } from '../../auth/model.ts';
import { defineRoute, type AnyRoute } from '../route.ts';
import { DriveParams } from './params.ts';

export const accessRoutes: AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/drives/{id}/access',
    summary: 'Who owns the drive and whom it is shared with',
    access: 'admin',
    params: DriveParams,
    driveParam: 'id',
    response: DriveAccess,
    handler: ({ deps, params }) => deps.auth.access(deps.ctx.drives.get(params.id)),
  }),
  defineRoute({
    method: 'put',
    path: '/drives/{id}/access',
    summary: 'Set the owner (null: every user sees it) and the users the drive is shared with',
    access: 'admin',
    params: DriveParams,
    driveParam: 'id',
    body: SetDriveAccessInput,
    response: DriveAccess,
    audit: { action: 'drive.access' },
    handler({ deps, params, body, audit }) {
      const idOf = (name: string, field: string): string => {
        const user = deps.auth.users.find(name);
        if (!user) throw new PiDriveError('bad_request', `no user named "${name}"`, { [field]: 'unknown user' });
        return user.id;
      };
      const owner = body.owner === undefined ? undefined : body.owner === null ? null : idOf(body.owner, 'owner');
      const shares = body.shares?.map((name, i) => idOf(name, `shares.${i}`));
      if (owner !== undefined) deps.ctx.drives.setOwner(params.id, owner);
      if (shares !== undefined) deps.auth.shares.replace(params.id, shares);
      deps.ctx.bus.emit('drive_state', { id: params.id });
      const access = deps.auth.access(deps.ctx.drives.get(params.id));
      audit.details = { ...access };
      return access;
    },
  }),
];
