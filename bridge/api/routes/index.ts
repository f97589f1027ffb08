import type { AnyRoute } from '../route.ts';
import { bridgeRoutes } from './bridge.ts';
import { driveRoutes } from './drives.ts';

/** Every route of /api/v1, in the order the OpenAPI document lists them. */
export const apiRoutes: readonly AnyRoute[] = [...bridgeRoutes, ...driveRoutes];
