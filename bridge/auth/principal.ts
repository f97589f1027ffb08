import type { Role } from './model.ts';

/**
 * Who is asking: the local administrator on the control socket, a user (browser session), or an
 * API token. Every route and WebSocket message is authorised against one of these.
 */
export interface Principal {
  readonly kind: 'local' | 'user' | 'token';
  /** The user or token name; "local" for the control socket. */
  readonly name: string;
  /** How the audit log names it: "local", "user:<name>" or "token:<name>". */
  readonly actor: string;
  readonly role: Role;
  readonly userId: string | null;
  /** Drives a token is limited to; null = no limit. */
  readonly drives: readonly string[] | null;
  /** The session behind a browser request: its CSRF token must accompany every state change. */
  readonly session: { readonly hash: string; readonly csrf: string } | null;
}

/** An admin not limited to drives: the only kind of caller that acts on the whole bridge. */
export function wholeBridgeAdmin(principal: Principal): boolean {
  return principal.role === 'admin' && principal.drives === null;
}

export const LOCAL_ADMIN: Principal = Object.freeze({
  kind: 'local',
  name: 'local',
  actor: 'local',
  role: 'admin',
  userId: null,
  drives: null,
  session: null,
});
