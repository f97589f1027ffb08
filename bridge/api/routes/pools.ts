import { z } from 'zod';
import { AddPoolInput, Pool } from '../../pools/registry.ts';
import { defineRoute, type AnyRoute } from '../route.ts';

export const poolRoutes: AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/pools',
    summary: 'Image pools, their availability and free space',
    access: 'viewer',
    response: z.array(Pool),
    handler: ({ deps }) => deps.ctx.pools.list(),
  }),
  defineRoute({
    method: 'post',
    path: '/pools',
    summary: 'Register a directory as a pool',
    access: 'admin',
    body: AddPoolInput,
    response: Pool,
    status: 201,
    audit: { action: 'pool.add' },
    handler({ deps, body, audit }) {
      const pool = deps.ctx.pools.add(body);
      deps.ctx.bus.emit('bridge_info', {});
      audit.details = { name: pool.name, path: pool.path };
      return pool;
    },
  }),
];
