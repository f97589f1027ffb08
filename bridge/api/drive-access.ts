import { PiDriveError } from '../core/errors.ts';
import type { Principal } from '../auth/principal.ts';
import type { DriveRecord } from '../drives/model.ts';
import type { ApiDeps } from './route.ts';

/**
 * The drive if the principal may see it. A drive that exists but is not visible gets exactly the
 * answer of a drive that does not exist, so nobody learns which ids are taken.
 */
export function visibleDrive(deps: ApiDeps, principal: Principal, id: string): DriveRecord {
  const drive = deps.ctx.drives.find(id);
  if (!drive || !deps.auth.mayAccess(principal, drive)) throw new PiDriveError('not_found', `no drive "${id}"`, { id: 'unknown drive' });
  return drive;
}
