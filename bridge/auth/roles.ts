import type { Role } from './model.ts';

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

/** True when `role` includes everything `required` may do (roles are strictly nested). */
export function roleAllows(role: Role, required: Role): boolean {
  return RANK[role] >= RANK[required];
}
