import { openApiDocument } from '../openapi.ts';
import { defineRoute, type AnyRoute } from '../route.ts';
import { accessRoutes } from './access.ts';
import { backupRoutes } from './backups.ts';
import { bridgeRoutes } from './bridge.ts';
import { driveRoutes } from './drives.ts';
import { eventRoutes } from './events.ts';
import { poolRoutes } from './pools.ts';
import { sessionRoutes } from './session.ts';
import { tokenRoutes } from './tokens.ts';
import { userRoutes } from './users.ts';

let document: Record<string, unknown> | null = null;

/** Every route of /api/v1, in the order the OpenAPI document lists them. */
export const apiRoutes: readonly AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/openapi.json',
    summary: 'This API as an OpenAPI 3.1 document',
    access: 'public',
    handler: ({ deps }) => (document ??= openApiDocument(apiRoutes, deps.ctx.version)),
  }),
  ...bridgeRoutes,
  ...sessionRoutes,
  ...driveRoutes,
  ...accessRoutes,
  ...backupRoutes,
  ...poolRoutes,
  ...eventRoutes,
  ...userRoutes,
  ...tokenRoutes,
];
