import type { Clock } from '../core/clock.ts';
import { PiDriveError } from '../core/errors.ts';
import type { Store } from '../store/database.ts';
import { CreateTokenInput, expiryOf, type CreatedToken, type Role, type Token } from './model.ts';
import { newSecret, secretHash } from './secrets.ts';

interface TokenRow {
  name: string;
  hash: string;
  role: Role;
  drives: string | null;
  created_at: string;
  created_by: string;
  expires_at: string | null;
  last_used_at: string | null;
}

/** Writing last_used_at on every request would turn reads into writes; once a minute is precise enough. */
const LAST_USED_RESOLUTION_MS = 60_000;

/** API tokens: random secrets shown once, stored as SHA-256, with role, optional drive list and expiry. */
export class TokenStore {
  readonly #store: Store;
  readonly #clock: Clock;

  constructor(store: Store, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  list(): Token[] {
    const rows = this.#store.db.prepare('SELECT * FROM tokens ORDER BY name').all() as TokenRow[];
    return rows.map(publicToken);
  }

  create(input: CreateTokenInput, createdBy: string): CreatedToken {
    const parsed = CreateTokenInput.parse(input);
    const now = this.#clock.now();
    const secret = newSecret('pdt');
    const row: TokenRow = {
      name: parsed.name,
      hash: secretHash(secret),
      role: parsed.role,
      drives: parsed.drives ? JSON.stringify([...new Set(parsed.drives)].sort()) : null,
      created_at: now.toISOString(),
      created_by: createdBy,
      expires_at: expiryOf(parsed.expires, now),
      last_used_at: null,
    };
    const inserted = this.#store.db
      .prepare(
        `INSERT INTO tokens (name, hash, role, drives, created_at, created_by, expires_at, last_used_at)
         VALUES (@name, @hash, @role, @drives, @created_at, @created_by, @expires_at, @last_used_at)
         ON CONFLICT(name) DO NOTHING`,
      )
      .run(row);
    if (inserted.changes === 0) throw new PiDriveError('conflict', `token "${parsed.name}" already exists`, { name: 'already exists' });
    const t = publicToken(row);
    return { name: t.name, token: secret, role: t.role, drives: t.drives, expires_at: t.expires_at };
  }

  revoke(name: string): Token {
    const row = this.#store.db.prepare('DELETE FROM tokens WHERE name = ? RETURNING *').get(name) as TokenRow | undefined;
    if (!row) throw new PiDriveError('not_found', `no token named "${name}"`, { name: 'unknown token' });
    return publicToken(row);
  }

  /** The live token behind a secret, or a reason it is refused. Touches last_used_at. */
  authenticate(secret: string): Token {
    const row = this.#store.db.prepare('SELECT * FROM tokens WHERE hash = ?').get(secretHash(secret)) as TokenRow | undefined;
    if (!row) throw new PiDriveError('unauthorized', 'unknown or revoked API token');
    const now = this.#clock.now();
    if (row.expires_at !== null && Date.parse(row.expires_at) <= now.getTime()) {
      throw new PiDriveError('unauthorized', `API token "${row.name}" expired at ${row.expires_at}`);
    }
    if (row.last_used_at === null || now.getTime() - Date.parse(row.last_used_at) >= LAST_USED_RESOLUTION_MS) {
      row.last_used_at = now.toISOString();
      this.#store.db.prepare('UPDATE tokens SET last_used_at = ? WHERE name = ?').run(row.last_used_at, row.name);
    }
    return publicToken(row);
  }
}

function publicToken(row: TokenRow): Token {
  return {
    name: row.name,
    role: row.role,
    drives: row.drives === null ? null : (JSON.parse(row.drives) as string[]),
    created_at: row.created_at,
    created_by: row.created_by,
    expires_at: row.expires_at,
    last_used_at: row.last_used_at,
  };
}
