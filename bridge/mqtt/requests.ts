import type { z } from 'zod';
import { PiDriveError, asPiDriveError } from '../core/errors.ts';
import type { BackupControl } from '../backup/types.ts';
import type { BridgeContext } from '../context.ts';
import type { CreateDriveInput } from '../drives/inputs.ts';
import type { Actor } from '../drives/service.ts';
import {
  AttachRequest,
  BackupRequest,
  DriveRef,
  EmptyRequest,
  MAX_PAYLOAD_BYTES,
  RemoveRequest,
  RestoreRequest,
  parseInput,
  parseRequestBody,
  salvageTransaction,
} from './commands.ts';
import { driveStatePayload, type ResponsePayload } from './payloads.ts';

export const MQTT_ACTOR: Actor = { actor: 'mqtt', source: 'mqtt' };

/** Live changes (attach, detach, eject, mode) audited as MQTT's; the drive service audits its own operations. */
export function auditLive(ctx: BridgeContext, op: string, id: string, details: Record<string, unknown> = {}): void {
  ctx.events.append({ kind: 'audit', action: `drive.${op}`, actor: MQTT_ACTOR.actor, source: MQTT_ACTOR.source, drive: id, details });
}

export interface RequestDeps {
  ctx: BridgeContext;
  backup: BackupControl | null;
  /** Runs operations on one drive one after another (shared with `/set`). */
  serial<T>(driveId: string, fn: () => Promise<T>): Promise<T>;
  startedAt: number;
  mqttConnected: () => boolean;
}

interface RequestHandler {
  /** null: the body goes to the service unchanged, which validates it (drive/create). */
  schema: z.ZodType | null;
  run(body: never, deps: RequestDeps): Promise<Record<string, unknown>>;
}

function handler<S extends z.ZodType>(schema: S, run: (body: z.infer<S>, deps: RequestDeps) => Promise<Record<string, unknown>>): RequestHandler {
  return { schema, run: run as RequestHandler['run'] };
}

function stateOf(deps: RequestDeps, id: string): Record<string, unknown> {
  return { id, ...driveStatePayload(deps.ctx.drives.view(id)) };
}

function requireBackup(deps: RequestDeps): BackupControl {
  if (!deps.backup) throw new PiDriveError('unavailable', 'backups are not available on this bridge', { backup: 'unavailable' });
  return deps.backup;
}

/** The contract's request paths (plus `restart`, the bridge's Restart button). */
export const REQUESTS: Record<string, RequestHandler> = {
  health_check: handler(EmptyRequest, async (_body, deps) => ({
    healthy: true,
    bridge_id: deps.ctx.config.bridge.id,
    version: deps.ctx.version,
    uptime_s: Math.round((Date.now() - deps.startedAt) / 1000),
    drive_count: deps.ctx.drives.list().length,
    mqtt_connected: deps.mqttConnected(),
  })),
  restart: handler(EmptyRequest, async (_body, deps) => {
    deps.ctx.restart.check();
    return { restarting: true };
  }),
  // The drive service validates the body itself (the same rules as POST /drives).
  'drive/create': {
    schema: null,
    run: (async (body: CreateDriveInput, deps: RequestDeps) => {
      const drive = await deps.serial(typeof body.id === 'string' ? body.id : '', () => deps.ctx.drives.create(body, MQTT_ACTOR));
      return { ...drive };
    }) as RequestHandler['run'],
  },
  'drive/remove': handler(RemoveRequest, (body, deps) =>
    deps.serial(body.id, async () => ({ id: body.id, ...(await deps.ctx.drives.remove(body.id, { force: body.force ?? false }, MQTT_ACTOR)) })),
  ),
  'drive/attach': handler(AttachRequest, (body, deps) =>
    deps.serial(body.id, async () => {
      deps.ctx.drives.get(body.id);
      await deps.ctx.attachments.attach(body.id, body.mode ? { mode: body.mode } : {});
      auditLive(deps.ctx, 'attach', body.id, body.mode ? { mode: body.mode } : {});
      return stateOf(deps, body.id);
    }),
  ),
  'drive/detach': handler(DriveRef, (body, deps) =>
    deps.serial(body.id, async () => {
      deps.ctx.drives.get(body.id);
      const { method } = await deps.ctx.attachments.detach(body.id);
      auditLive(deps.ctx, 'detach', body.id, { method });
      return { ...stateOf(deps, body.id), method };
    }),
  ),
  'drive/eject': handler(DriveRef, (body, deps) =>
    deps.serial(body.id, async () => {
      deps.ctx.drives.get(body.id);
      const { method } = await deps.ctx.attachments.eject(body.id);
      auditLive(deps.ctx, 'eject', body.id, { method });
      return { ...stateOf(deps, body.id), method };
    }),
  ),
  'drive/backup': handler(BackupRequest, async (body, deps) => {
    const backup = requireBackup(deps);
    deps.ctx.drives.get(body.id);
    const job = backup.startBackup(body.id, { ...(body.repository ? { repository: body.repository } : {}), actor: MQTT_ACTOR.actor });
    return { job };
  }),
  'drive/restore': handler(RestoreRequest, async (body, deps) => {
    const backup = requireBackup(deps);
    deps.ctx.drives.get(body.id);
    if (body.pool && !body.to) throw new PiDriveError('bad_request', '"pool" only applies when restoring into a new drive ("to")', { pool: 'requires to' });
    const target = body.to ? { kind: 'new_drive' as const, drive: body.to, ...(body.pool ? { pool: body.pool } : {}) } : { kind: 'in_place' as const };
    const job = backup.startRestore(body.id, body.snapshot, { ...(body.repository ? { repository: body.repository } : {}), target, actor: MQTT_ACTOR.actor });
    return { job };
  }),
};

/**
 * Turns one request message into its response. Never throws: a bad payload, an unknown path, a
 * refused operation and an unexpected failure all become `status: "error"` with the transaction
 * echoed whenever it could be read.
 */
export async function answerRequest(path: string, payload: Buffer, deps: RequestDeps): Promise<ResponsePayload> {
  let transaction: string | number | undefined;
  try {
    if (payload.length > MAX_PAYLOAD_BYTES) {
      throw new PiDriveError('too_large', `the request is ${payload.length} bytes; the limit is ${MAX_PAYLOAD_BYTES}`, { payload: 'too large' });
    }
    transaction = salvageTransaction(payload);
    const parsed = parseRequestBody(payload);
    transaction = parsed.transaction;
    const request = Object.hasOwn(REQUESTS, path) ? REQUESTS[path] : undefined;
    if (!request) {
      throw new PiDriveError('not_found', `unknown request "${path}"; known: ${Object.keys(REQUESTS).join(', ')}`, { path: 'unknown request' });
    }
    const body = request.schema ? parseInput(request.schema, parsed.body) : parsed.body;
    const data = await request.run(body as never, deps);
    return { status: 'ok', data, ...(transaction !== undefined ? { transaction } : {}) };
  } catch (err) {
    const e = asPiDriveError(err);
    if (!(err instanceof PiDriveError)) deps.ctx.log.error('mqtt request failed unexpectedly', { path, err });
    const error = { code: e.code, message: e.message, ...(e.fields ? { fields: e.fields } : {}) };
    return { status: 'error', data: {}, error, ...(transaction !== undefined ? { transaction } : {}) };
  }
}
