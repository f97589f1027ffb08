import { z } from 'zod';
import { PiDriveError } from '../../core/errors.ts';
import { LoginInput, Role, SetupInput, User } from '../../auth/model.ts';
import type { OpenedSession } from '../../auth/service.ts';
import { clearedSessionCookie, sessionCookie } from '../cookies.ts';
import { defineRoute, type AnyRoute, type Call } from '../route.ts';

const Whoami = z.object({
  kind: z.enum(['local', 'user', 'token']),
  name: z.string(),
  role: Role,
  drives: z.array(z.string()).nullable(),
  /** Present for a browser session: send it as X-CSRF-Token with every state-changing request. */
  csrf_token: z.string().optional(),
});
const LoggedIn = z.object({ user: User, csrf_token: z.string(), expires_at: z.string() });
const SetupState = z.object({ open: z.boolean() });

function startSession(call: Call<unknown, unknown, unknown>, session: OpenedSession): z.infer<typeof LoggedIn> {
  const secure = call.deps.tls || call.req.secure;
  const maxAgeS = Math.max(0, Math.floor((Date.parse(session.expiresAt) - call.deps.ctx.clock.now().getTime()) / 1000));
  call.res.append('Set-Cookie', sessionCookie(session.secret, { secure, maxAgeS }));
  call.who.actor = `user:${session.user.name}`;
  return { user: session.user, csrf_token: session.csrf, expires_at: session.expiresAt };
}

export const sessionRoutes: AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/session',
    summary: 'Who the caller is (and, for a browser session, its CSRF token)',
    access: 'any',
    response: Whoami,
    handler: ({ principal: p }) => ({
      kind: p.kind,
      name: p.name,
      role: p.role,
      drives: p.drives ? [...p.drives] : null,
      ...(p.session ? { csrf_token: p.session.csrf } : {}),
    }),
  }),
  defineRoute({
    method: 'post',
    path: '/session',
    summary: 'Log in: sets an HttpOnly, SameSite=Strict session cookie (rate limited per account and address)',
    access: 'public',
    body: LoginInput,
    response: LoggedIn,
    audit: { action: 'session.login' },
    async handler(call) {
      const { deps, body, source } = call;
      try {
        return startSession(call, await deps.auth.login(body.name, body.password, source));
      } catch (err) {
        if (err instanceof PiDriveError && err.code === 'unauthorized') deps.ctx.events.append({ kind: 'audit', action: 'session.login_failed', actor: `user:${body.name}`, source, details: {} });
        throw err;
      }
    },
  }),
  defineRoute({
    method: 'delete',
    path: '/session',
    summary: 'Log out: ends the session and clears its cookie',
    access: 'any',
    audit: { action: 'session.logout' },
    handler({ deps, principal, req, res }) {
      deps.auth.logout(principal);
      res.append('Set-Cookie', clearedSessionCookie(deps.tls || req.secure));
    },
  }),
  defineRoute({
    method: 'get',
    path: '/setup',
    summary: 'Whether first-run setup is open (only until an admin exists)',
    access: 'public',
    response: SetupState,
    handler: ({ deps }) => ({ open: deps.auth.setupOpen() }),
  }),
  defineRoute({
    method: 'post',
    path: '/setup',
    summary: 'First-run setup: create the first admin with the one-time code printed in the bridge log',
    access: 'public',
    body: SetupInput,
    response: LoggedIn,
    status: 201,
    audit: { action: 'user.setup' },
    async handler(call) {
      const { deps, body, source, audit } = call;
      const result = startSession(call, await deps.auth.completeSetup(body.code, body.name, body.password, source));
      audit.details = { name: body.name, role: 'admin' };
      return result;
    },
  }),
];
