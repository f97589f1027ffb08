import { z } from 'zod';
import { DriveId } from '../drives/model.ts';

/** viewer reads; operator also attaches, detaches, ejects, backs up, creates and restores into new drives; admin everything. */
export const Role = z.enum(['viewer', 'operator', 'admin']);
export type Role = z.infer<typeof Role>;

export const UserName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,31}$/, 'must be 1-32 characters: lowercase letters, digits, dots, dashes and underscores');
export const TokenName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be 1-64 characters: lowercase letters, digits, dots, dashes and underscores');
export const Password = z
  .string()
  .min(8, 'must be at least 8 characters')
  .max(1024, 'must be at most 1024 characters');

/** "90d", "12h", "30m" or "never": how long a token lives. */
export const Lifetime = z
  .string()
  .regex(/^(never|[1-9]\d{0,5}[mhdw])$/, 'must be a duration like 30m, 12h, 90d, 52w, or "never"');
export type Lifetime = z.infer<typeof Lifetime>;

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** The expiry instant of a lifetime starting at `now`, or null for "never". */
export function expiryOf(lifetime: Lifetime, now: Date): string | null {
  if (lifetime === 'never') return null;
  const amount = Number(lifetime.slice(0, -1));
  return new Date(now.getTime() + amount * UNIT_MS[lifetime.slice(-1)]!).toISOString();
}

/** A user as the API and `pidrive user list --json` show it (never the hash). */
export const User = z.object({
  name: UserName,
  role: Role,
  created_at: z.string(),
  updated_at: z.string(),
});
export type User = z.infer<typeof User>;

export const CreateUserInput = z.object({ name: UserName, password: Password, role: Role.optional() }).strict();
export type CreateUserInput = z.infer<typeof CreateUserInput>;

/** An admin changes role or password; a user changes their own password with current_password. */
export const UpdateUserInput = z
  .object({ role: Role.optional(), password: Password.optional(), current_password: z.string().max(1024).optional() })
  .strict();
export type UpdateUserInput = z.infer<typeof UpdateUserInput>;

/** A token as listed: everything but the secret, which is shown once at creation. */
export const Token = z.object({
  name: TokenName,
  role: Role,
  drives: z.array(DriveId).nullable(),
  created_at: z.string(),
  created_by: z.string(),
  expires_at: z.string().nullable(),
  last_used_at: z.string().nullable(),
});
export type Token = z.infer<typeof Token>;

export const CreateTokenInput = z
  .object({
    name: TokenName,
    role: Role.default('operator'),
    /** Limits the token to these drives; omitted or null means every drive. */
    drives: z.array(DriveId).min(1, 'must list at least one drive, or be omitted').max(256).nullable().optional(),
    expires: Lifetime.default('never'),
  })
  .strict()
  .refine((t) => !(t.role === 'admin' && t.drives), {
    path: ['drives'],
    message: 'an admin token acts on the whole bridge and cannot be limited to drives; limit an operator or viewer token instead',
  });
export type CreateTokenInput = z.input<typeof CreateTokenInput>;

/** `token create` result: the only time the secret is shown. */
export const CreatedToken = z.object({
  name: TokenName,
  token: z.string(),
  role: Role,
  drives: z.array(DriveId).nullable(),
  expires_at: z.string().nullable(),
});
export type CreatedToken = z.infer<typeof CreatedToken>;

export const LoginInput = z.object({ name: z.string().min(1).max(64), password: z.string().min(1).max(1024) }).strict();
export const SetupInput = z.object({ code: z.string().min(1).max(128), name: UserName, password: Password }).strict();

export const DriveAccess = z.object({ owner: UserName.nullable(), shares: z.array(UserName) });
export type DriveAccess = z.infer<typeof DriveAccess>;
export const SetDriveAccessInput = z
  .object({ owner: UserName.nullable().optional(), shares: z.array(UserName).max(256).optional() })
  .strict();
export type SetDriveAccessInput = z.infer<typeof SetDriveAccessInput>;
