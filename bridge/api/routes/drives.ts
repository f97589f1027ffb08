import { z } from 'zod';
import { PiDriveError } from '../../core/errors.ts';
import { CreateDriveInput, ImportDriveInput } from '../../drives/inputs.ts';
import { SizeString } from '../../drives/size.ts';
import { wholeBridgeAdmin } from '../../auth/principal.ts';
import { Drive, DriveMode } from '../../drives/model.ts';
import { AttachOptions, EjectMethod } from '../../gadget/types.ts';
import { defineRoute, type AnyRoute } from '../route.ts';
import { DriveParams } from './params.ts';

const Detached = z.object({ drive: Drive, method: EjectMethod });
const UpdateDriveInput = z
  .object({ mode: DriveMode.optional(), size: SizeString.optional().describe('grow the drive to this size (never shrinks)') })
  .strict()
  .refine((b) => b.mode !== undefined || b.size !== undefined, { message: 'send mode and/or size', path: ['mode'] });
const Updated = z.object({ drive: Drive, notes: z.array(z.string()) });
/** `from` makes it an import (admin only: it reads a file on the bridge); otherwise a new image. */
const NewDriveInput = z.union([CreateDriveInput, ImportDriveInput]);
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
    summary: 'Create a sparse, formatted drive image, or (admin, with `from`) import an image file; a user becomes its owner',
    access: 'operator',
    body: NewDriveInput,
    response: Drive,
    status: 201,
    audit: { action: 'drive.create', by: 'service' },
    async handler({ deps, principal, body, who }) {
      if (principal.drives !== null && !principal.drives.includes(body.id)) {
        throw new PiDriveError('forbidden', `token "${principal.name}" is limited to drives ${principal.drives.join(', ')}`, { id: 'outside the token\'s drives' });
      }
      if ('from' in body) {
        if (!wholeBridgeAdmin(principal)) throw new PiDriveError('forbidden', 'importing a file of the bridge needs an admin not limited to drives', { from: 'admin only' });
        return deps.ctx.drives.import(body, who);
      }
      return deps.ctx.drives.create(body, who);
    },
  }),
  defineRoute({
    method: 'patch',
    path: '/drives/{id}',
    summary: 'Grow a detached drive and/or change its mode',
    access: 'operator',
    params: DriveParams,
    driveParam: 'id',
    body: UpdateDriveInput,
    response: Updated,
    audit: { action: 'drive.mode' },
    async handler({ deps, params, body, audit, who }) {
      // Resize first: it has the most ways to fail, and it refuses an attached drive just as setMode does.
      // The one way the mode can still fail after a resize (a CD-ROM too large for the kernel) is
      // checked before anything changes, so a refused request changes nothing.
      const cdromMax = deps.ctx.attachments.info().capabilities.cdrom_max_bytes;
      if (body.mode === 'cdrom' && body.size !== undefined && body.size > cdromMax) {
        throw new PiDriveError('too_large', `a CD-ROM can be at most ${cdromMax} bytes (the kernel silently cuts off the rest); nothing was changed`, {
          size: 'too large for cdrom',
        });
      }
      const notes = body.size !== undefined ? (await deps.ctx.drives.resize(params.id, body.size, who)).notes : [];
      if (body.mode !== undefined) {
        await deps.ctx.attachments.setMode(params.id, body.mode);
        audit.details = { mode: body.mode };
      } else audit.skip = true;
      return { drive: deps.ctx.drives.view(params.id), notes };
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
