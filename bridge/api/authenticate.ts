import crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { PiDriveError } from '../core/errors.ts';
import { LOCAL_ADMIN, type Principal } from '../auth/principal.ts';
import type { AuthService } from '../auth/service.ts';
import { readCookie, SESSION_COOKIE } from './cookies.ts';

/**
 * Connections accepted on the owner-only control socket. Only a process of the bridge's own user
 * can connect there, so such a request is the local administrator.
 */
export const controlSocketConnections = new WeakSet<Socket>();

export const CSRF_HEADER = 'x-csrf-token';

export function isLocal(req: IncomingMessage): boolean {
  return controlSocketConnections.has(req.socket);
}

/**
 * The principal behind a request, null when it carries no credentials, or unauthorized when the
 * credentials are wrong, expired or revoked. A bearer token wins over a cookie. `touch: false`
 * re-checks a session without counting as the user's activity.
 */
export function principalOf(req: IncomingMessage, auth: AuthService, touch = true): Principal | null {
  if (isLocal(req)) return LOCAL_ADMIN;
  const header = req.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer ([A-Za-z0-9._~+/=-]{1,512})$/.exec(header.trim());
    if (!match) throw new PiDriveError('unauthorized', 'the Authorization header must be "Bearer <token>"', { authorization: 'must be "Bearer <token>"' });
    return auth.bearer(match[1]!);
  }
  const cookie = readCookie(req.headers.cookie, SESSION_COOKIE);
  if (cookie) return auth.session(cookie, touch);
  return null;
}

export function requirePrincipal(req: IncomingMessage, auth: AuthService): Principal {
  const principal = principalOf(req, auth);
  if (!principal) throw new PiDriveError('unauthorized', 'log in, or send "Authorization: Bearer <token>"');
  return principal;
}

/** A browser session must echo its CSRF token on every state change; tokens and the socket need not. */
export function checkCsrf(req: IncomingMessage, principal: Principal): void {
  if (!principal.session) return;
  const sent = req.headers[CSRF_HEADER];
  const given = Buffer.from(typeof sent === 'string' ? sent : '');
  const expected = Buffer.from(principal.session.csrf);
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
    throw new PiDriveError('forbidden', 'missing or wrong X-CSRF-Token header (GET /api/v1/session returns the token)', {
      [CSRF_HEADER]: 'missing or wrong',
    });
  }
}
