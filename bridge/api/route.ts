import type { Request, Response } from 'express';
import type { z } from 'zod';
import type { AuthService } from '../auth/service.ts';
import type { BackupControl } from '../backup/types.ts';
import type { Role } from '../auth/model.ts';
import type { Principal } from '../auth/principal.ts';
import type { BridgeContext } from '../context.ts';
import type { Actor } from '../drives/service.ts';

/** What every route handler can reach. */
export interface ApiDeps {
  ctx: BridgeContext;
  auth: AuthService;
  /** True when the TCP listener serves HTTPS: session cookies get `Secure`. */
  tls: boolean;
  /** The MQTT link, when the MQTT extension runs. */
  mqttStatus: () => { connected: boolean } | null;
  /** Backups, snapshots, jobs and schedules, when the backup module runs. */
  backup: BackupControl | null;
}

/** One authorised, validated request as a handler sees it. */
export interface Call<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal;
  /** Where the request came from, for the audit log: "socket" or the client address. */
  source: string;
  /** The principal as the drive service's audit wants it. */
  who: Actor;
  deps: ApiDeps;
  req: Request;
  res: Response;
  /**
   * What the framework's audit entry records; handlers fill in the drive and details they know,
   * or set `skip` when the services they called wrote every entry themselves.
   */
  audit: { drive: string | null; details: Record<string, unknown>; skip?: boolean };
}

type AnyObject = z.ZodType<Record<string, unknown>, Record<string, unknown>>;

/**
 * One route: method, OpenAPI-style path, who may call it, the zod schemas of its inputs and
 * output (validation and the OpenAPI document both come from these), and how it is audited.
 */
export interface RouteSpec<P extends AnyObject, Q extends AnyObject, B extends z.ZodType> {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** OpenAPI form, relative to /api/v1: "/drives/{id}". */
  path: string;
  summary: string;
  /** "public": no credentials needed; "any": any authenticated principal; else the least role. */
  access: 'public' | 'any' | Role;
  params?: P;
  query?: Q;
  body?: B;
  response?: z.ZodType;
  /** Success status: 200 by default, 204 when the handler returns nothing. */
  status?: number;
  /** Name of the path parameter holding a drive id: the drive must exist and be visible, else 404. */
  driveParam?: keyof z.infer<P> & string;
  /**
   * Audit action for a state-changing route. "service" means the called service writes the
   * audit entry itself (with `call.who`), so the framework does not write a second one.
   */
  audit?: { action: string; by?: 'service' };
  handler(call: Call<z.infer<P>, z.infer<Q>, z.infer<B>>): Promise<unknown> | unknown;
}

export type AnyRoute = RouteSpec<AnyObject, AnyObject, z.ZodType>;

export function defineRoute<P extends AnyObject, Q extends AnyObject, B extends z.ZodType>(spec: RouteSpec<P, Q, B>): AnyRoute {
  if (spec.method !== 'get' && !spec.audit) throw new Error(`route ${spec.method} ${spec.path} changes state but names no audit action`);
  return spec as unknown as AnyRoute;
}

/** "/drives/{id}" → "/drives/:id" for express. */
export function expressPath(path: string): string {
  return path.replace(/\{([a-z_]+)\}/g, ':$1');
}
