import crypto from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { PiDriveError } from '../core/errors.ts';
import type { Config } from '../config/schema.ts';
import type { Store } from '../store/database.ts';
import { LoginLimiter } from './login-limiter.ts';
import { AUTH_MIGRATIONS } from './migrations.ts';
import type { CreateUserInput, DriveAccess, User } from './model.ts';
import { dummyPasswordHash, hashPassword, verifyPassword } from './passwords.ts';
import type { Principal } from './principal.ts';
import { roleAllows } from './roles.ts';
import { secretHash } from './secrets.ts';
import { SessionStore } from './sessions.ts';
import { DriveShares } from './shares.ts';
import { TokenStore } from './tokens.ts';
import { UserStore } from './users.ts';

/** The part of a drive that decides who may see it. */
export interface OwnedDrive {
  id: string;
  owner: string | null;
}

export interface OpenedSession {
  user: User;
  secret: string;
  csrf: string;
  expiresAt: string;
}

/**
 * Users, roles, sessions, API tokens and per-drive access. Used by the API (online) and by the
 * `pidrive user|token` commands (offline, on the same database).
 */
export class AuthService {
  readonly users: UserStore;
  readonly tokens: TokenStore;
  readonly sessions: SessionStore;
  readonly shares: DriveShares;
  readonly #limiter: LoginLimiter;
  #setupCodeHash: string | null = null;

  constructor(store: Store, policy: Config['auth'], clock: Clock) {
    store.migrate('auth', AUTH_MIGRATIONS);
    this.users = new UserStore(store, clock);
    this.tokens = new TokenStore(store, clock);
    this.sessions = new SessionStore(store, clock, {
      idleMs: policy.session_idle_minutes * 60_000,
      absoluteMs: policy.session_absolute_hours * 3_600_000,
    });
    this.shares = new DriveShares(store);
    this.#limiter = new LoginLimiter(clock, { maxFailures: policy.login_max_failures, lockoutMs: policy.login_lockout_minutes * 60_000 });
  }

  async addUser(input: CreateUserInput): Promise<User> {
    return this.users.insert(input.name, input.role, await hashPassword(input.password));
  }

  /** A new password ends every other session of that user. */
  async setPassword(name: string, password: string, keepSession?: string): Promise<User> {
    const user = this.users.setPasswordHash(name, await hashPassword(password));
    this.sessions.closeAllOf(this.users.get(name).id, keepSession);
    return user;
  }

  async checkPassword(name: string, password: string): Promise<boolean> {
    const user = this.users.find(name);
    const ok = await verifyPassword(password, user?.password_hash ?? (await dummyPasswordHash()));
    return ok && user !== null;
  }

  /** Name + password → a new session; rate limited per account and per address. */
  async login(name: string, password: string, address: string): Promise<OpenedSession> {
    const keys = [`account:${name}`, `address:${address}`];
    this.#limiter.begin(keys);
    let ok = false;
    try {
      ok = await this.checkPassword(name, password);
    } finally {
      if (ok) this.#limiter.succeed(keys, keys[0]!);
      else this.#limiter.fail(keys);
    }
    if (!ok) throw new PiDriveError('unauthorized', 'wrong user name or password', { password: 'wrong user name or password' });
    const user = this.users.get(name);
    return { user: this.users.list().find((u) => u.name === name)!, ...this.sessions.open(user.id) };
  }

  /**
   * First-run setup: while no admin exists, a one-time code (to be printed in the log) lets the
   * first client of `POST /setup` create the admin. Returns null when setup is closed.
   */
  openSetup(): string | null {
    if (this.users.hasAdmin()) {
      this.#setupCodeHash = null;
      return null;
    }
    const code = crypto.randomBytes(9).toString('base64url').toUpperCase().replace(/[^A-Z0-9]/g, 'X');
    const pretty = code.match(/.{1,4}/g)!.join('-');
    this.#setupCodeHash = secretHash(normalizeCode(pretty));
    return pretty;
  }

  setupOpen(): boolean {
    return this.#setupCodeHash !== null && !this.users.hasAdmin();
  }

  async completeSetup(code: string, name: string, password: string, address: string): Promise<OpenedSession> {
    if (!this.setupOpen()) throw new PiDriveError('conflict', 'first-run setup is closed: an admin already exists', { code: 'setup is closed' });
    const keys = [`setup:${address}`];
    this.#limiter.begin(keys);
    const given = Buffer.from(secretHash(normalizeCode(code)));
    if (!crypto.timingSafeEqual(given, Buffer.from(this.#setupCodeHash!))) {
      this.#limiter.fail(keys);
      throw new PiDriveError('unauthorized', 'wrong setup code (it is printed in the bridge log)', { code: 'wrong setup code' });
    }
    this.#limiter.succeed(keys, keys[0]!);
    await this.addUser({ name, password, role: 'admin' });
    this.#setupCodeHash = null;
    return this.login(name, password, address);
  }

  /** `Authorization: Bearer <token>` → principal. */
  bearer(secret: string): Principal {
    const token = this.tokens.authenticate(secret);
    return {
      kind: 'token',
      name: token.name,
      actor: `token:${token.name}`,
      role: token.role,
      userId: null,
      drives: token.drives,
      session: null,
    };
  }

  /** Session cookie → principal; the role is read fresh, so a demotion takes effect at once. */
  session(secret: string, touch = true): Principal {
    const s = this.sessions.resume(secret, touch);
    const user = this.users.byId(s.userId);
    if (!user) throw new PiDriveError('unauthorized', 'not logged in (the user was removed)');
    return {
      kind: 'user',
      name: user.name,
      actor: `user:${user.name}`,
      role: user.role,
      userId: user.id,
      drives: null,
      session: { hash: s.hash, csrf: s.csrf },
    };
  }

  logout(principal: Principal): void {
    if (principal.session) this.sessions.close(principal.session.hash);
  }

  /**
   * Admins and the local socket see every drive; a token limited to drives sees those; other users
   * see drives they own, drives shared with them, and drives without an owner (created on the CLI).
   */
  mayAccess(principal: Principal, drive: OwnedDrive): boolean {
    if (principal.drives !== null && !principal.drives.includes(drive.id)) return false;
    if (principal.kind !== 'user' || roleAllows(principal.role, 'admin')) return true;
    return drive.owner === null || drive.owner === principal.userId || this.shares.isShared(drive.id, principal.userId!);
  }

  visible<T extends OwnedDrive>(principal: Principal, drives: readonly T[]): T[] {
    if (principal.kind === 'user' && !roleAllows(principal.role, 'admin')) {
      const shared = this.shares.of(principal.userId!);
      return drives.filter((d) => d.owner === null || d.owner === principal.userId || shared.has(d.id));
    }
    return drives.filter((d) => this.mayAccess(principal, d));
  }

  access(drive: OwnedDrive): DriveAccess {
    const owner = drive.owner === null ? null : (this.users.byId(drive.owner)?.name ?? null);
    const shares = this.shares
      .userIds(drive.id)
      .map((id) => this.users.byId(id)?.name)
      .filter((n): n is string => n !== undefined)
      .sort();
    return { owner, shares };
  }
}

function normalizeCode(code: string): string {
  return code.toUpperCase().replace(/[^A-Z0-9]/g, '');
}
