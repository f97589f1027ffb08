import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { asPiDriveError, PiDriveError } from '../core/errors.ts';
import { wholeBridgeAdmin, type Principal } from '../auth/principal.ts';
import { roleAllows } from '../auth/roles.ts';
import { checkCsrf, isLocal, principalOf, requirePrincipal } from './authenticate.ts';
import { visibleDrive } from './drive-access.ts';
import { expressPath, type AnyRoute, type ApiDeps, type Call } from './route.ts';
import { parseInput } from './validate.ts';

const NoBody = z.object({}).strict();

/** The express app of /api/v1, shared by the TCP listener and the control socket. */
export function createApp(deps: ApiDeps, routes: readonly AnyRoute[]): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  const proxies = deps.ctx.config.http.trusted_proxies;
  app.set('trust proxy', proxies.length > 0 ? proxies : false);
  app.use((_req, res, next) => {
    res.set({ 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store', 'X-Frame-Options': 'DENY', 'Referrer-Policy': 'no-referrer' });
    next();
  });

  const api = express.Router();
  api.use(requireJsonBody);
  api.use(express.json({ limit: deps.ctx.config.http.max_body_bytes, strict: true }));
  for (const route of routes) api[route.method](expressPath(route.path), handle(deps, route));
  api.use((req: Request) => {
    throw new PiDriveError('not_found', `no route ${req.method} /api/v1${req.path}`);
  });
  app.use('/api/v1', api);
  app.use((req: Request) => {
    throw new PiDriveError('not_found', `nothing at ${req.path}`);
  });
  app.use(errorHandler(deps));
  return app;
}

export function sourceOf(req: Request): string {
  return isLocal(req) ? 'socket' : (req.ip ?? req.socket.remoteAddress ?? 'unknown');
}

export const RESPONSE_DRIFT = 'response does not match its schema';

function handle(deps: ApiDeps, route: AnyRoute) {
  return async (req: Request, res: Response): Promise<void> => {
    const principal = route.access === 'public' ? optionalPrincipal(req, deps) : requirePrincipal(req, deps.auth);
    if (principal && route.method !== 'get') checkCsrf(req, principal);
    if (route.access !== 'public' && route.access !== 'any' && !roleAllows(principal!.role, route.access)) {
      throw new PiDriveError('forbidden', `this needs the ${route.access} role; ${describe(principal!)} has the ${principal!.role} role`);
    }
    if (route.access === 'admin' && !route.driveParam && !wholeBridgeAdmin(principal!)) {
      throw new PiDriveError('forbidden', `${describe(principal!)} is limited to drives ${principal!.drives!.join(', ')}; this acts on the whole bridge`);
    }
    const params = route.params ? parseInput(route.params, req.params, 'params') : {};
    if (route.driveParam) visibleDrive(deps, principal!, params[route.driveParam] as string);
    const query = route.query ? parseInput(route.query, { ...(req.query as object) }, 'query') : {};
    const body = parseInput(route.body ?? NoBody, req.body ?? {}, 'body');
    const source = sourceOf(req);
    const call: Call<Record<string, unknown>, Record<string, unknown>, unknown> = {
      params,
      query,
      body,
      principal: principal!,
      source,
      who: { actor: principal?.actor ?? 'anonymous', source, userId: principal?.userId ?? null },
      deps,
      req,
      res,
      audit: { drive: route.driveParam ? (params[route.driveParam] as string) : null, details: {} },
    };
    const result = await route.handler(call);
    if (route.audit && route.audit.by !== 'service' && !call.audit.skip) {
      deps.ctx.events.append({
        kind: 'audit',
        action: route.audit.action,
        actor: call.who.actor,
        drive: call.audit.drive,
        source,
        details: call.audit.details,
      });
    }
    // The OpenAPI document promises these shapes; a drift is a bug to see in the log (and in the
    // tests, which fail on this line), not a reason to withhold the answer.
    const shape = result !== undefined && route.response ? route.response.safeParse(result) : null;
    if (shape && !shape.success) {
      deps.ctx.log.error(RESPONSE_DRIFT, { route: `${route.method.toUpperCase()} ${route.path}`, issues: shape.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`) });
    }
    if (result === undefined) res.status(204).end();
    else res.status(route.status ?? 200).json(result);
  };
}

/** Public routes work without credentials; bad credentials there are ignored rather than refused. */
function optionalPrincipal(req: Request, deps: ApiDeps): Principal | null {
  try {
    return principalOf(req, deps.auth);
  } catch {
    return null;
  }
}

function describe(p: Principal): string {
  return p.kind === 'token' ? `token "${p.name}"` : p.kind === 'user' ? `user "${p.name}"` : 'the local socket';
}

/** A body that is not JSON is refused, not silently ignored. */
function requireJsonBody(req: Request, _res: Response, next: NextFunction): void {
  const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if (hasBody && !req.is('application/json')) {
    throw new PiDriveError('bad_request', 'the request body must be JSON (Content-Type: application/json)', { 'content-type': 'must be application/json' });
  }
  next();
}

/** body-parser's error types → one clear refusal; never its message (it may quote the body). */
const BODY_ERRORS: Record<string, () => PiDriveError> = {
  'entity.parse.failed': () => new PiDriveError('bad_request', 'the request body is not valid JSON', { body: 'not valid JSON' }),
  'entity.too.large': () => new PiDriveError('too_large', 'the request body is too large', { body: 'too large' }),
  'entity.verify.failed': () => new PiDriveError('bad_request', 'the request body was refused', { body: 'refused' }),
  'encoding.unsupported': () => new PiDriveError('bad_request', 'unsupported Content-Encoding', { 'content-encoding': 'unsupported' }),
  'charset.unsupported': () => new PiDriveError('bad_request', 'the body must be UTF-8 JSON', { 'content-type': 'unsupported charset' }),
  'request.aborted': () => new PiDriveError('bad_request', 'the request was aborted', { body: 'aborted' }),
  'request.size.invalid': () => new PiDriveError('bad_request', 'the body length does not match Content-Length', { body: 'wrong length' }),
};

function errorHandler(deps: ApiDeps) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const bodyError = typeof err === 'object' && err !== null && 'type' in err ? BODY_ERRORS[String(err.type)] : undefined;
    let error: PiDriveError;
    if (bodyError) error = bodyError();
    else if (err instanceof PiDriveError) error = err;
    else if (isClientError(err)) error = new PiDriveError('bad_request', 'malformed request (for example a badly encoded path)');
    else {
      error = asPiDriveError(err);
      deps.ctx.log.error('api request failed', { method: req.method, path: req.path, err, stack: err instanceof Error ? err.stack : undefined });
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (error.status === 401 && !isLocal(req)) res.set('WWW-Authenticate', 'Bearer realm="pidrive"');
    res.status(error.status).json(error.toJSON());
  };
}

function isClientError(err: unknown): boolean {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' && status >= 400 && status < 500;
}
