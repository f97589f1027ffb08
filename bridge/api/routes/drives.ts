import { z } from 'zod';
import { PiDriveError } from '../../core/errors.ts';
import { CreateDriveInput } from '../../drives/inputs.ts';
import { Drive, DriveMode } from '../../drives/model.ts';
import { AttachOptions, EjectMethod } from '../../gadget/types.ts';
import { defineRoute, type AnyRoute } from '../route.ts';
import { DriveParams } from './params.ts';

const Detached = z.object({ drive: Drive, method: EjectMethod });
const UpdateDriveInput = z.object({ mode: DriveMode }).strict();
const RemoveQuery = z.object({ force: z.enum(['true', 'false']).optional() }).strict();
const Removed = z.object({ id: z.string(), removed_file: z.boolean() });

export const driveRoutes: AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/drives',
    summary: 'Drives the caller may see',
    access: 'viewer',
    response: z.array(Drive),
    handler: ({ deps, principal }) => deps.auth.visible(principal, deps.ctx.drives.views()),
  }),
  defineRoute({
    method: 'get',
    path: '/drives/{id}',
    summary: 'One drive',
    access: 'viewer',
    params: DriveParams,
    driveParam: 'id',
    response: Drive,
    handler: ({ deps, params }) => deps.ctx.drives.view(params.id),
  }),
  defineRoute({
    method: 'post',
    path: '/drives',
    summary: 'Create a sparse, formatted drive image; a user becomes its owner',
    access: 'operator',
    body: CreateDriveInput,
    response: Drive,
    status: 201,
    audit: { action: 'drive.create', by: 'service' },
    async handler({ deps, principal, body, who }) {
      if (principal.drives !== null && !principal.drives.includes(body.id)) {
        throw new PiDriveError('forbidden', `token "${principal.name}" is limited to drives ${principal.drives.join(', ')}`, { id: 'outside the token\'s drives' });
      }
      const drive = await deps.ctx.drives.create(body, who);
      if (principal.userId === null) return drive;
      deps.ctx.drives.setOwner(drive.id, principal.userId);
      return deps.ctx.drives.view(drive.id);
    },
  }),
  defineRoute({
    method: 'patch',
    path: '/drives/{id}',
    summary: 'Change the mode of a detached drive',
    access: 'operator',
    params: DriveParams,
    driveParam: 'id',
    body: UpdateDriveInput,
    response: Drive,
    audit: { action: 'drive.mode' },
    async handler({ deps, params, body, audit }) {
      await deps.ctx.attachments.setMode(params.id, body.mode);
      audit.details = { mode: body.mode };
      return deps.ctx.drives.view(params.id);
    },
  }),
  defineRoute({
    method: 'delete',
    path: '/drives/{id}',
    summary: 'Remove a detached drive and its image (force: unregister one whose image is gone)',
    access: 'admin',
    params: DriveParams,
    driveParam: 'id',
    query: RemoveQuery,
    response: Removed,
    audit: { action: 'drive.remove', by: 'service' },
    async handler({ deps, params, query, who }) {
      const { removed_file } = await deps.ctx.drives.remove(params.id, { force: query.force === 'true' }, who);
      deps.auth.shares.forget(params.id);
      return { id: params.id, removed_file };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/drives/{id}/attach',
    summary: 'Present the drive to the USB host',
    access: 'operator',
    params: DriveParams,
    driveParam: 'id',
    body: AttachOptions,
    response: Drive,
    audit: { action: 'drive.attach' },
    async handler({ deps, params, body, audit }) {
      const drive = await deps.ctx.attachments.attach(params.id, body);
      audit.details = { mode: drive.mode, lun: drive.lun };
      return deps.ctx.drives.view(params.id);
    },
  }),
  ...(['detach', 'eject'] as const).map((action) =>
    defineRoute({
      method: 'post',
      path: `/drives/{id}/${action}`,
      summary: action === 'detach' ? 'Stop presenting the drive to the USB host' : 'Detach, overriding a host that locked the medium',
      access: 'operator',
      params: DriveParams,
      driveParam: 'id',
      body: z.object({}).strict(),
      response: Detached,
      audit: { action: `drive.${action}` },
      async handler({ deps, params, audit }) {
        const { method } = await deps.ctx.attachments[action](params.id);
        audit.details = { method };
        return { drive: deps.ctx.drives.view(params.id), method };
      },
    }),
  ),
];
